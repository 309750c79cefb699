import { KernelView } from './kernel-view';
import type { PlannedProbe } from './planner';
import { ReasonCode, TARGET_ABSENT } from './reasons';
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
  reason_code: ReasonCode | null;
}

/** A variant's outcome, from its probe's status and reason code (never from the words). */
export function variantStatus(p: Pick<PlannedProbe, 'status' | 'reasonCode'>): VariantResult['status'] {
  if (p.status === 'attached') return 'attached';
  return p.reasonCode && TARGET_ABSENT.has(p.reasonCode) ? 'absent' : 'refused';
}

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
          out.push({ probe: p.name, mode: c.mode, target: p.target ?? c.target, status: variantStatus(p), reason: p.reason, reason_code: p.reasonCode });
        }
      } finally {
        session.close();
      }
    }
  }
  return out;
}
