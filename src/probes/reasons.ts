/**
 * Why a probe, or one candidate of it, is not running: one code per cause, for
 * programs (doctor --attach, JSON consumers, grouping), and the words, for people.
 * Code decides on the code; the words may be reworded freely.
 */
export type ReasonCode =
  /** No kernel types to relocate against (no vmlinux BTF, no IOMMUTRACE_BTF): nothing loads. */
  | 'no_core_btf'
  /** fentry/fexit and tp_btf need the kernel's own BTF, which it lacks. */
  | 'no_btf'
  /** The target lives in a module that is not loaded. */
  | 'module_not_loaded'
  /** The target is another IOMMU driver's operation than the one translating here. */
  | 'other_iommu'
  /**
   * More than one function has the target's name (arm-smmu and arm-smmu-v3 both have a
   * static arm_smmu_iotlb_sync): attached by name, the probe could land on the other.
   */
  | 'ambiguous'
  /** The function or tracepoint is not on this kernel (absent, renamed, inlined). */
  | 'absent'
  /** The function takes fewer arguments than the program reads (another signature). */
  | 'args_mismatch'
  /** The function takes more arguments than this kernel's trampolines do. */
  | 'too_many_args'
  /** The target is there and the kernel said no (EPERM, the verifier, attach). */
  | 'refused_by_kernel'
  /** libbpf could not set the program up before load. */
  | 'load_failed'
  /** CONFIG_KPROBES is off. */
  | 'no_kprobes'
  /** tracefs is not mounted and could not be. */
  | 'no_tracefs'
  /** Without BTF or tracefs there is no telling whether a raw tracepoint exists. */
  | 'cannot_tell'
  /** The catalogue has no candidate for this probe at all. */
  | 'no_candidate'
  /** Left out by --probes. */
  | 'not_requested'
  /** Attached, then its module was unloaded. */
  | 'detached'
  /** A candidate passed over: a trampoline would keep its module from unloading (see --hold-modules). */
  | 'holds_module';

/** Codes that mean the target is not on this kernel, as opposed to there and refused. */
export const TARGET_ABSENT: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['absent', 'module_not_loaded', 'other_iommu']);

export interface Reason {
  code: ReasonCode;
  /** The whole sentence, naming the symbol, module or mode it is about. */
  text: string;
  /** The same cause for every probe it hits, without the symbol (what doctor groups by). */
  cause: string;
}

export function reason(code: ReasonCode, text: string, cause = text): Reason {
  return { code, text, cause };
}

/** What a probe left out by --probes says. */
export const NOT_REQUESTED = reason('not_requested', 'not requested (left out by --probes)');
