import { ENOTSUPP, EPERM, KernelView, trampolineMaxArgs } from './kernel-view';
import { NOT_REQUESTED, reason, Reason, ReasonCode } from './reasons';
import { AttachMode, Candidate, ProbeSpec, ProgramSpec } from './types';
import type { Trampoline } from '../loader/object';

/** The planner's decision for one logical probe. */
export interface PlannedProbe {
  name: string;
  description: string;
  /**
   * 'available' from the planner; the session turns it into 'attached' or 'unavailable',
   * and an attached probe becomes 'detached' when its target goes away (module unloaded).
   */
  status: 'available' | 'attached' | 'unavailable' | 'detached';
  mode: AttachMode | null;
  target: string | null;
  module?: string;
  programs: ProgramSpec[];
  /** Why no candidate could be used (a summary of `tried`), or why attaching failed. */
  reason: string | null;
  /**
   * The cause of `reason` as a code: for a probe no candidate of which could be used,
   * the cause of its preferred candidate (the others' are in `tried`).
   */
  reasonCode: ReasonCode | null;
  /** Every candidate considered before the chosen one, with the reason it was passed over. */
  tried: Tried[];
  /** Facts the chosen variant cannot give (e.g. latency for a tracepoint fallback). */
  lacks: string[];
}

/** A candidate passed over: its words (`reason`), their code and the cause they share with other probes. */
export interface Tried {
  mode: AttachMode;
  target: string;
  reason: string;
  code: ReasonCode;
  cause: string;
}

/** Why nothing loads when CO-RE has no kernel types to relocate against. */
export const NO_CORE_BTF =
  'the kernel has no BTF (/sys/kernel/btf/vmlinux) and no BTF file for it was found or given (IOMMUTRACE_BTF): ' +
  'libbpf cannot relocate the programs (CO-RE), so none of them loads';

const NO_BTF = 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';

const TRAMPOLINE: Trampoline[] = ['fentry', 'fexit'];
const KPROBE: AttachMode[] = ['kprobe', 'kretprobe'];

type Checked = { reason: Reason } | { target: string; module?: string };

/** Why `c` cannot be used on this kernel, or its resolved target (and the module holding it) when it can. */
function check(k: KernelView, c: Candidate): Checked {
  const kinds = new Set(c.programs.map((p) => p.attach));
  const needsTrampoline = TRAMPOLINE.some((m) => kinds.has(m));
  const needsKprobe = KPROBE.some((m) => kinds.has(m));
  // libbpf loads the object as a whole, and every program reads kernel types through CO-RE.
  if (k.coreBtf === null) return { reason: reason('no_core_btf', NO_CORE_BTF) };
  if (c.module && !k.moduleLoaded(c.module) && (needsTrampoline || needsKprobe)) {
    return { reason: reason('module_not_loaded', `module ${c.module} is not loaded`) };
  }
  let found: Checked = { target: c.target, module: c.module };
  if (needsTrampoline) found = checkTrampolines(k, c, kinds, found.module);
  if (needsKprobe && !('reason' in found)) found = checkKprobe(k, c, found.module);
  if ('reason' in found) return found;
  const why = checkTracepoints(k, c, kinds) ?? checkIommu(k, c) ?? checkUnique(k, c, needsTrampoline || needsKprobe);
  if (why) return { reason: why };
  return found.module ? found : { target: found.target };
}

/** fentry/fexit: the function in BTF with the arguments the programs read, and the kernel taking each. */
function checkTrampolines(k: KernelView, c: Candidate, kinds: Set<AttachMode>, module: string | undefined): Checked {
  if (!k.btf) return { reason: reason('no_btf', NO_BTF) };
  const fn = k.func(c.target);
  if (!fn) return { reason: reason('absent', `${c.target} is not in kernel BTF (absent, renamed or inlined)`, 'not in kernel BTF (absent, renamed or inlined)') };
  if (c.minArgs && fn.args < c.minArgs) {
    return {
      reason: reason(
        'args_mismatch',
        `${c.target} takes ${fn.args} arguments here, the program reads argument ${c.minArgs}`,
        'takes fewer arguments here than the program reads',
      ),
    };
  }
  for (const kind of TRAMPOLINE.filter((m) => kinds.has(m))) {
    const r = k.trampoline(c.target, kind, fn.module);
    if (r.ok) continue;
    const max = trampolineMaxArgs(k.release);
    if (r.errno === ENOTSUPP && fn.args > max) {
      return {
        reason: reason(
          'too_many_args',
          `${kind} refused (ENOTSUPP): ${c.target} has ${fn.args} arguments, more than this kernel's trampolines take (${max})`,
          `more arguments than this kernel's trampolines take (${max})`,
        ),
      };
    }
    if (r.errno === EPERM) {
      return { reason: reason('refused_by_kernel', `${kind} programs are refused by this kernel (EPERM)`, 'fentry/fexit programs are refused by this kernel (EPERM)') };
    }
    return { reason: reason('refused_by_kernel', `${kind} refused: ${r.message}`) };
  }
  return { target: c.target, module: fn.module ?? module };
}

/** kprobe/kretprobe: kprobes built in, the symbol in kallsyms (a compiler clone will do), the kernel taking it. */
function checkKprobe(k: KernelView, c: Candidate, module: string | undefined): Checked {
  if (!k.kprobes) return { reason: reason('no_kprobes', 'kprobes are not built into this kernel (CONFIG_KPROBES off)') };
  const names = k.symbols(c.target);
  if (names.length === 0) return { reason: reason('absent', `${c.target} is not in kallsyms (absent, renamed or inlined)`, 'not in kallsyms (absent, renamed or inlined)') };
  const target = names.includes(c.target) ? c.target : names[0];
  const r = k.kprobe(target);
  if (!r.ok) return { reason: reason('refused_by_kernel', `kprobe refused at ${target}: ${r.message}`) };
  return { target, module: k.symbolModule?.(target) ?? module };
}

/** Tracepoints: tracefs and the event (tracepoint), BTF or tracefs and the raw tracepoint (tp_btf, raw_tp). */
function checkTracepoints(k: KernelView, c: Candidate, kinds: Set<AttachMode>): Reason | undefined {
  if (kinds.has('tracepoint')) {
    if (!k.tracefs) return reason('no_tracefs', 'tracefs is not mounted (and could not be mounted)');
    if (!k.tracepoint(c.target)) return reason('absent', `tracepoint ${c.target} does not exist`, 'the tracepoint does not exist');
  }
  if (!kinds.has('tp_btf') && !kinds.has('raw_tp')) return undefined;
  if (kinds.has('tp_btf') && !k.btf) return reason('no_btf', NO_BTF);
  if (k.btfTracepoint(c.target)) return undefined;
  if (!k.btf && !k.tracefs) {
    return reason(
      'cannot_tell',
      `without BTF or tracefs there is no telling whether raw tracepoint ${c.target} exists`,
      'without BTF or tracefs there is no telling whether the raw tracepoint exists',
    );
  }
  return reason('absent', `raw tracepoint ${c.target} does not exist`, 'the raw tracepoint does not exist');
}

/** Last: what the kernel cannot do at all says more than whose operation it is (an IOMMU driver's). */
function checkIommu(k: KernelView, c: Candidate): Reason | undefined {
  const iommus = c.iommu ? k.iommuDrivers?.() : undefined;
  if (!c.iommu || !iommus || iommus.has(c.iommu)) return undefined;
  if (!iommus.size) return reason('other_iommu', `${c.target} is ${c.iommu}'s, and no IOMMU is registered here (/sys/class/iommu)`, 'no IOMMU is registered here (/sys/class/iommu)');
  const here = [...iommus].join(', ');
  return reason('other_iommu', `${c.target} is ${c.iommu}'s; the IOMMU here is ${here}`, `another IOMMU driver's operation (the IOMMU here is ${here})`);
}

/**
 * An IOMMU driver's operations are static functions, and drivers built in together may
 * name theirs alike: fentry and kprobes resolve a name to its first function, maybe the
 * other driver's, and would then watch nothing. Refused rather than silently wrong.
 */
function checkUnique(k: KernelView, c: Candidate, byName: boolean): Reason | undefined {
  const n = c.iommu && byName ? k.symbolCount?.(c.target) : undefined;
  if (!n || n < 2) return undefined;
  return reason(
    'ambiguous',
    `${n} functions here are named ${c.target} (another driver built in has one of that name): attached by name, the probe could land on the other`,
    'more than one function has the name (another driver built in has one): attached by name, the probe could land on the other',
  );
}

/**
 * Picks, per logical probe, the first candidate this kernel supports, or says why there
 * is none. With `select`, the probes it leaves out are listed as not requested (opt-in
 * probes, which nobody expects, are left out silently, as without it).
 */
export function plan(k: KernelView, catalogue: ProbeSpec[], select?: (name: string) => boolean, options: PlanOptions = {}): PlannedProbe[] {
  const out: PlannedProbe[] = [];
  for (const spec of catalogue) {
    if (select ? !select(spec.name) : spec.optIn) {
      if (select && !spec.optIn) out.push(unavailable(spec, NOT_REQUESTED, []));
      continue;
    }
    const tried: Tried[] = [];
    let chosen: PlannedProbe | undefined;
    /** A trampoline inside a module, passed over for a kprobe there; taken if none attaches. */
    let holding: PlannedProbe | undefined;
    for (const c of spec.candidates) {
      const r = check(k, c);
      if ('reason' in r) {
        tried.push({ mode: c.mode, target: c.target, reason: r.reason.text, code: r.reason.code, cause: r.reason.cause });
        continue;
      }
      const trampoline = c.programs.some((p) => TRAMPOLINE.includes(p.attach as Trampoline));
      if (trampoline && r.module && !options.holdModules && !holding) {
        holding = planned(spec, c, r, [...tried]);
        const why = reason('holds_module', `${c.mode} on ${r.target} would keep module ${r.module} from unloading while attached (rmmod refused)`);
        tried.push({ mode: c.mode, target: r.target, reason: why.text, code: why.code, cause: why.cause });
        continue;
      }
      chosen = planned(spec, c, r, tried);
      break;
    }
    chosen ??= holding;
    const why = tried.length ? reason(tried[0].code, summarize(tried)) : reason('no_candidate', summarize(tried));
    out.push(chosen ?? unavailable(spec, why, tried));
  }
  return out;
}

export interface PlanOptions {
  /**
   * Prefer fentry/fexit inside modules too. By default a kprobe is preferred there:
   * the kernel refuses to unload a module while a trampoline is attached in it.
   */
  holdModules?: boolean;
}

function planned(spec: ProbeSpec, c: Candidate, r: { target: string; module?: string }, tried: Tried[]): PlannedProbe {
  return {
    name: spec.name,
    description: spec.description,
    status: 'available',
    mode: c.mode,
    target: r.target,
    module: r.module,
    programs: c.programs,
    reason: null,
    reasonCode: null,
    tried,
    lacks: c.lacks ?? [],
  };
}

function unavailable(spec: ProbeSpec, why: Reason, tried: Tried[]): PlannedProbe {
  return {
    name: spec.name,
    description: spec.description,
    status: 'unavailable',
    mode: null,
    target: null,
    programs: [],
    reason: why.text,
    reasonCode: why.code,
    tried,
    lacks: [],
  };
}

/** One line for all the reasons, merging candidates that failed for the same reason. */
export function summarize(tried: Tried[]): string {
  if (tried.length === 0) return 'no candidate for this kernel';
  const byReason = new Map<string, string[]>();
  for (const t of tried) {
    const key = t.reason;
    const what = `${t.mode} ${t.target}`;
    byReason.set(key, [...(byReason.get(key) ?? []), what]);
  }
  return [...byReason.entries()].map(([reason, whats]) => `${whats.join(', ')}: ${reason}`).join('; ');
}
