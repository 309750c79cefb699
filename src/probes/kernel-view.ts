import type { Trampoline } from '../loader/object';
/**
 * What the planner needs to know about a kernel. The live implementation
 * (kernel-live.ts) asks the running kernel; tests describe kernels as data
 * (kernel-data.ts), so the planner itself is pure.
 */
export interface Refusal {
  ok: boolean;
  errno: number;
  message: string;
}

export interface FunctionInfo {
  /** Number of arguments in the BTF prototype. */
  args: number;
  /** Module whose BTF holds it; undefined for vmlinux. */
  module?: string;
}

export interface KernelView {
  release: string;
  /** /sys/kernel/btf/vmlinux exists: the kernel has BTF (fentry/fexit and tp_btf need it). */
  btf: boolean;
  /**
   * The kernel types CO-RE relocations are made against: /sys/kernel/btf/vmlinux, or a
   * BTF file for this kernel (IOMMUTRACE_BTF, or one of the places libbpf looks such as
   * /boot/vmlinux-RELEASE). null: there is none, and libbpf refuses to load any program
   * of the object (every one reads kernel structs through CO-RE). Undefined: not known
   * (kernels described as data), taken as available.
   */
  coreBtf?: string | null;
  /** The perf kprobe PMU exists (CONFIG_KPROBES). */
  kprobes: boolean;
  /** Where tracefs is mounted; undefined when it is not (and could not be) mounted. */
  tracefs?: string;
  /** The function in kernel or module BTF, or undefined. */
  func(name: string): FunctionInfo | undefined;
  /** Text symbols in kallsyms named `name` or a compiler clone of it (`name.isra.0`). */
  symbols(name: string): string[];
  moduleLoaded(name: string): boolean;
  /** The IOMMU drivers translating here (/sys/class/iommu); undefined when not known. */
  iommuDrivers?(): ReadonlySet<string> | undefined;
  /** How many text symbols in kallsyms are named exactly `name` (undefined: not known). */
  symbolCount?(name: string): number | undefined;
  /** The module a kallsyms text symbol belongs to (undefined: the kernel image, or not known). */
  symbolModule?(name: string): string | undefined;
  /** Address of a module's data symbol from kallsyms (a parameter a probe reads), or undefined. */
  moduleDataAddress?(module: string, name: string): bigint | undefined;
  /** Can a trampoline program of this kind load and attach at the function? */
  trampoline(name: string, kind: Trampoline, module?: string): Refusal;
  /** Can a kprobe be placed at the symbol? */
  kprobe(symbol: string): Refusal;
  /** Tracepoint 'category:event' exists in tracefs. */
  tracepoint(target: string): boolean;
  /**
   * The raw tracepoint exists: its BTF type (btf_trace_NAME, what tp_btf needs) when the
   * kernel has BTF, else (raw_tp only needs the name) the event under tracefs.
   */
  btfTracepoint(name: string): boolean;
}

/** Linux's ENOTSUPP (524): what a trampoline returns for too many arguments. */
export const ENOTSUPP = 524;
export const EPERM = 1;

/**
 * How many arguments x86-64 BPF trampolines take: 6 until Linux 6.5 raised it
 * to 12 (functions with more arguments are refused with ENOTSUPP).
 */
export function trampolineMaxArgs(release: string): number {
  const [major, minor] = release.split(/[.-]/).map((x) => parseInt(x, 10));
  return major > 6 || (major === 6 && minor >= 5) ? 12 : 6;
}
