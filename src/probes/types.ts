import type { ConstantName } from '../generated/bpf';

import type { AttachKind } from '../loader/object';

/** How a BPF program attaches; the CLI reports these names (the loader's list). */
export type AttachMode = AttachKind;

/** One BPF program of the object, and how to attach it for a candidate. */
export interface ProgramSpec<Program extends string = string> {
  /** The program's name in bpf/*.bpf.c (the C function name). */
  program: Program;
  /** How it attaches. fentry/fexit/kprobe/kretprobe take the candidate's symbol. */
  attach: AttachMode;
}

/**
 * One way to implement a logical probe on some kernel: a kernel symbol (or
 * tracepoint) and the programs that watch it. Candidates are tried in order.
 */
export interface Candidate<Program extends string = string> {
  /** Reported mode: the mode of the program that carries the facts (e.g. 'fexit' for an fentry+fexit pair). */
  mode: AttachMode;
  /**
   * The target: a kernel function name for fentry/fexit/kprobe/kretprobe, a
   * tracepoint 'category:event' for tracepoint, the raw tracepoint name for tp_btf/raw_tp.
   */
  target: string;
  /** Kernel module that holds the function, when it is not built in (module BTF, kallsyms [mod]). */
  module?: string;
  /** Programs enabled together for this candidate (entry + exit pairs, etc.). */
  programs: ProgramSpec<Program>[];
  /**
   * Argument positions the programs read (1-based, highest); BTF must show at
   * least this many arguments, and trampolines must support the count.
   */
  minArgs?: number;
  /** Facts this variant cannot give (shown in doctor, e.g. 'no latency'). */
  lacks?: string[];
  /**
   * The IOMMU driver whose operation the target is ('intel-iommu', 'amd-iommu'):
   * kernels build several in, and only the one translating here is ever called.
   */
  iommu?: string;
}

/** A logical probe as named in the CLI (`iommu.map`) with its candidates in order of preference. */
export interface ProbeSpec<Name extends string = string, Program extends string = string> {
  name: Name;
  /** What it watches, one line, for doctor and --help. */
  description: string;
  candidates: Candidate<Program>[];
  /** Off unless asked for explicitly (e.g. the selftest producer). */
  optIn?: boolean;
  /**
   * Kernel data the programs read by address: the session looks each symbol up in
   * kallsyms when the probe runs and writes it into the load-time constant (0: unknown).
   */
  addresses?: { constant: AddressConstant; module: string; symbol: string }[];
}

/** The load-time constants that hold kernel addresses: those of bpf/include/config.h named *_addr. */
export type AddressConstant = Extract<ConstantName, `${string}_addr`>;
