import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Btf, Kallsyms, features } from '../loader';
import { activeIommuDrivers } from './iommu-groups';
import { FunctionInfo, KernelView, Refusal } from './kernel-view';
import { effectiveCaps, missingCaps } from './privileges';
import { ensureTracefs, TracefsState } from './tracefs';
import { readModuleLines } from '../source/module-watch';
import type { Trampoline } from '../loader/object';

/** The kernel facts `doctor` prints and captures record. */
export interface KernelFacts {
  release: string;
  /** /sys/kernel/btf/vmlinux exists. */
  btf: boolean;
  /** What CO-RE relocates against: that file, a BTF file for this kernel, or null (nothing can load). */
  coreBtf: string | null;
  /** Why a BTF file given with IOMMUTRACE_BTF was not used, when one was given. */
  btfError: string | null;
  /** Kernel lockdown mode (none, integrity, confidentiality), when securityfs shows it. */
  lockdown: string | null;
  tracefs: TracefsState;
  kprobes: boolean;
  ringbuf: boolean;
  capabilities: string[];
  missingCapabilities: string[];
  modules: string[];
}

function readLockdown(): string | null {
  try {
    const text = fs.readFileSync('/sys/kernel/security/lockdown', 'utf8');
    return /\[(\w+)\]/.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Where libbpf 1.1 looks for kernel BTF when /sys/kernel/btf/vmlinux is missing (ELF files with .BTF). */
const LIBBPF_BTF_FALLBACKS = [
  '/boot/vmlinux-%s',
  '/lib/modules/%s/vmlinux-%s',
  '/lib/modules/%s/build/vmlinux',
  '/usr/lib/modules/%s/kernel/vmlinux',
  '/usr/lib/debug/boot/vmlinux-%s',
  '/usr/lib/debug/boot/vmlinux-%s.debug',
  '/usr/lib/debug/lib/modules/%s/vmlinux',
];

/** The environment variable naming a BTF file for kernels without /sys/kernel/btf/vmlinux (BTFHub, pahole). */
export const BTF_ENV = 'IOMMUTRACE_BTF';

/**
 * The kernel types CO-RE relocations can use: /sys/kernel/btf/vmlinux, else the file in
 * IOMMUTRACE_BTF (checked to be readable BTF), else a file libbpf finds by itself.
 */
export function findCoreBtf(release: string, env = process.env[BTF_ENV]): { path: string | null; custom: boolean; error: string | null } {
  if (Btf.available()) return { path: Btf.VMLINUX, custom: false, error: null };
  let error: string | null = null;
  if (env) {
    try {
      Btf.file(env).close();
      return { path: env, custom: true, error: null };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error = `${BTF_ENV}=${env} is not usable: ${firstLine(e.message)}`;
    }
  }
  for (const pattern of LIBBPF_BTF_FALLBACKS) {
    const p = pattern.replace(/%s/g, release);
    if (fs.existsSync(p)) return { path: p, custom: false, error };
  }
  return { path: null, custom: false, error };
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim()) ?? s;
}

/** The running kernel, asked lazily and cached: BTF, kallsyms, trampoline and kprobe probes. */
export class LiveKernel implements KernelView {
  readonly release = os.release();
  readonly btf = Btf.available();
  readonly coreBtf: string | null;
  /** The BTF file to hand libbpf for CO-RE (IOMMUTRACE_BTF), when the kernel has none of its own. */
  readonly btfCustomPath?: string;
  private readonly btfError: string | null;
  readonly kprobes = features.kprobesBuiltIn();
  readonly tracefsState: TracefsState;
  readonly modules: Set<string>;
  private vmlinux?: Btf;
  private readonly moduleBtf = new Map<string, Btf | null>();
  private readonly funcs = new Map<string, FunctionInfo | undefined>();
  private kallsyms?: Kallsyms;
  private readonly refusals = new Map<string, Refusal>();

  /** Set: a view of these modules alone (loaded after the start), their functions and symbols, nothing of the kernel image. */
  private readonly only?: ReadonlySet<string>;

  /** The kernel's BTF another view opened, for module BTF to stand on. */
  private readonly sharedBase?: Btf;

  /** `base`: an open vmlinux BTF (the session's) that module BTF is split on instead of parsing the kernel's again. */
  constructor(options: { mountTracefs?: boolean; modules?: readonly string[]; base?: Btf } = {}) {
    this.only = options.modules && new Set(options.modules);
    this.sharedBase = options.base;
    this.tracefsState = ensureTracefs(options.mountTracefs ?? true);
    this.modules = new Set(readModuleLines().keys());
    const core = findCoreBtf(this.release);
    this.coreBtf = core.path;
    this.btfError = core.error;
    if (core.custom) this.btfCustomPath = core.path!;
  }

  get tracefs(): string | undefined {
    return this.tracefsState.path;
  }

  private kernelBtf(): Btf | undefined {
    if (!this.btf || this.only) return undefined;
    this.vmlinux ??= Btf.vmlinux();
    return this.vmlinux;
  }

  /** The open vmlinux BTF, when planning opened it (module views share it). */
  vmlinuxBtf(): Btf | undefined {
    return this.vmlinux;
  }

  private modBtf(name: string): Btf | null {
    if (!this.moduleBtf.has(name)) {
      let b: Btf | null = null;
      try {
        // Every module on one vmlinux: a base each was 6 MB a module, kept until stop.
        b = Btf.module(name, this.sharedBase ?? (this.vmlinux ??= Btf.vmlinux()));
      } catch {
        b = null;
      }
      this.moduleBtf.set(name, b);
    }
    return this.moduleBtf.get(name)!;
  }

  private btfModules(): string[] {
    try {
      return fs.readdirSync('/sys/kernel/btf').filter((n) => n !== 'vmlinux' && (!this.only || this.only.has(n)));
    } catch {
      return [];
    }
  }

  func(name: string): FunctionInfo | undefined {
    if (this.funcs.has(name)) return this.funcs.get(name);
    let info: FunctionInfo | undefined;
    const k = this.kernelBtf();
    const proto = k?.func(name);
    if (proto) info = { args: proto.params.length };
    else if (k || (this.btf && this.only)) {
      for (const mod of this.btfModules()) {
        const p = this.modBtf(mod)?.func(name);
        if (p) {
          info = { args: p.params.length, module: mod };
          break;
        }
      }
    }
    this.funcs.set(name, info);
    return info;
  }

  symbols(name: string): string[] {
    return this.symbolTable().variants(name);
  }

  symbolModule(name: string): string | undefined {
    return this.symbolTable().lookup(name)?.module;
  }

  symbolCount(name: string): number {
    return this.symbolTable().count(name);
  }

  moduleDataAddress(module: string, name: string): bigint | undefined {
    return this.symbolTable().moduleDataAddress(module, name);
  }

  /** kallsyms, read once, when a question first needs it. */
  private symbolTable(): Kallsyms {
    return (this.kallsyms ??= Kallsyms.load(undefined, undefined, this.only));
  }

  moduleLoaded(name: string): boolean {
    return this.modules.has(name);
  }

  private iommus?: ReadonlySet<string>;

  iommuDrivers(): ReadonlySet<string> {
    // Asked once per IOMMU-op candidate: read sysfs once.
    return (this.iommus ??= activeIommuDrivers());
  }

  trampoline(name: string, kind: Trampoline, module?: string): Refusal {
    const key = `${kind}:${module ?? ''}:${name}`;
    let r = this.refusals.get(key);
    if (!r) {
      r = features.canTrampoline(name, kind, module ?? '');
      this.refusals.set(key, r);
    }
    return r;
  }

  kprobe(symbol: string): Refusal {
    const key = `kprobe::${symbol}`;
    let r = this.refusals.get(key);
    if (!r) {
      r = features.canKprobe(symbol);
      this.refusals.set(key, r);
    }
    return r;
  }

  tracepoint(target: string): boolean {
    return this.tracefs !== undefined && features.tracepointExists(this.tracefs, target);
  }

  btfTracepoint(name: string): boolean {
    if (!this.btf) return this.tracefsEvent(name);
    const typedef = `btf_trace_${name}`;
    if (this.kernelBtf()?.find(typedef, 'typedef')) return true;
    return this.btfModules().some((m) => this.modBtf(m)?.find(typedef, 'typedef'));
  }

  /** An event of that name in any tracefs category (how a raw tracepoint shows without BTF). */
  private tracefsEvent(name: string): boolean {
    if (!this.tracefs) return false;
    try {
      return fs.readdirSync(path.join(this.tracefs, 'events')).some((cat) => fs.existsSync(path.join(this.tracefs!, 'events', cat, name, 'id')));
    } catch {
      return false;
    }
  }

  facts(): KernelFacts {
    const caps = effectiveCaps();
    return {
      release: this.release,
      btf: this.btf,
      coreBtf: this.coreBtf,
      btfError: this.btfError,
      lockdown: readLockdown(),
      tracefs: this.tracefsState,
      kprobes: this.kprobes,
      ringbuf: features.hasRingBuffer(),
      capabilities: [...caps].sort(),
      missingCapabilities: missingCaps(caps),
      modules: [...this.modules].filter((m) => /vfio|iommu/.test(m)).sort(),
    };
  }

  /** Lets go of kallsyms once the probes are attached (24 MB of heap); asked again, it is read again. */
  forgetSymbols(): void {
    this.kallsyms = undefined;
    this.funcs.clear();
    features.releaseTrampolineBtf();
  }

  close(): void {
    this.vmlinux?.close();
    this.vmlinux = undefined;
    for (const b of this.moduleBtf.values()) b?.close();
    this.moduleBtf.clear();
    this.funcs.clear();
    this.kallsyms = undefined;
    features.releaseTrampolineBtf();
  }
}
