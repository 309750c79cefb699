import { KernelView } from './kernel-view';
import { ProbeSession } from './session';
import { AttachMode, Candidate, ProbeSpec } from './types';

/** Candidates whose programs can share one object load are of one family. */
type Family = 'trampoline' | 'kprobe' | 'tracepoint';

const FAMILY: Record<AttachMode, Family> = {
  fentry: 'trampoline',
  fexit: 'trampoline',
  kprobe: 'kprobe',
  kretprobe: 'kprobe',
  tracepoint: 'tracepoint',
  tp_btf: 'tracepoint',
  raw_tp: 'tracepoint',
};

export interface VariantResult {
  probe: string;
  mode: AttachMode;
  target: string;
  /** attached; absent: the target is not on this kernel; refused: it is, and the kernel said no. */
  status: 'attached' | 'absent' | 'refused';
  reason: string | null;
}

const ABSENT = /not in kernel BTF|not in kallsyms|is not loaded|does not exist/;

/**
 * Loads and attaches every candidate of the catalogue that this kernel has, not
 * only the planner's choice: the proof that each variant passes the verifier here.
 * Candidates of one probe share programs, so each object load takes at most one
 * candidate per probe: one load per family and rank.
 */
export async function attachAllVariants(kernel: KernelView, catalogue: ProbeSpec[]): Promise<VariantResult[]> {
  const out: VariantResult[] = [];
  for (const family of ['trampoline', 'kprobe', 'tracepoint'] as Family[]) {
    const byProbe = catalogue.map((s) => ({ spec: s, cands: s.candidates.filter((c) => FAMILY[c.mode] === family) }));
    const rounds = Math.max(0, ...byProbe.map((p) => p.cands.length));
    for (let rank = 0; rank < rounds; rank++) {
      const specs: ProbeSpec[] = [];
      const chosen = new Map<string, Candidate>();
      for (const { spec, cands } of byProbe) {
        if (!cands[rank]) continue;
        specs.push({ ...spec, optIn: false, candidates: [cands[rank]] });
        chosen.set(spec.name, cands[rank]);
      }
      const session = await ProbeSession.start(kernel, specs, { select: () => true });
      try {
        for (const p of session.probes) {
          const c = chosen.get(p.name)!;
          const status = p.status === 'attached' ? 'attached' : ABSENT.test(p.reason ?? '') ? 'absent' : 'refused';
          out.push({ probe: p.name, mode: c.mode, target: p.target ?? c.target, status, reason: p.reason });
        }
      } finally {
        session.close();
      }
    }
  }
  return out;
}
