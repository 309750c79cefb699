import * as fs from 'node:fs';
import * as os from 'node:os';
import { Btf, Kallsyms, features } from '../loader';
import { FunctionInfo, KernelView, Refusal } from './kernel-view';
import { effectiveCaps, missingCaps } from './privileges';
import { ensureTracefs, TracefsState } from './tracefs';

/** The kernel facts `doctor` prints and captures record. */
export interface KernelFacts {
  release: string;
  btf: boolean;
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

function loadedModules(): string[] {
  try {
    return fs
      .readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ')[0]);
  } catch {
    return [];
  }
}

/** The running kernel, asked lazily and cached: BTF, kallsyms, trampoline and kprobe probes. */
export class LiveKernel implements KernelView {
  readonly release = os.release();
  readonly btf = Btf.available();
  readonly kprobes = features.kprobesBuiltIn();
  readonly tracefsState: TracefsState;
  readonly modules: Set<string>;
  private vmlinux?: Btf;
  private readonly moduleBtf = new Map<string, Btf | null>();
  private readonly funcs = new Map<string, FunctionInfo | undefined>();
  private kallsyms?: Kallsyms;
  private readonly refusals = new Map<string, Refusal>();

  constructor(options: { mountTracefs?: boolean } = {}) {
    this.tracefsState = ensureTracefs(options.mountTracefs ?? true);
    this.modules = new Set(loadedModules());
  }

  get tracefs(): string | undefined {
    return this.tracefsState.path;
  }

  private kernelBtf(): Btf | undefined {
    if (!this.btf) return undefined;
    this.vmlinux ??= Btf.vmlinux();
    return this.vmlinux;
  }

  private modBtf(name: string): Btf | null {
    if (!this.moduleBtf.has(name)) {
      let b: Btf | null = null;
      try {
        b = Btf.module(name);
      } catch {
        b = null;
      }
      this.moduleBtf.set(name, b);
    }
    return this.moduleBtf.get(name)!;
  }

  private btfModules(): string[] {
    try {
      return fs.readdirSync('/sys/kernel/btf').filter((n) => n !== 'vmlinux');
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
    else if (k) {
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
    this.kallsyms ??= Kallsyms.load();
    return this.kallsyms.variants(name);
  }

  moduleLoaded(name: string): boolean {
    return this.modules.has(name);
  }

  trampoline(name: string, kind: 'fentry' | 'fexit', module?: string): Refusal {
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
    const typedef = `btf_trace_${name}`;
    if (this.kernelBtf()?.find(typedef, 'typedef')) return true;
    return this.btfModules().some((m) => this.modBtf(m)?.find(typedef, 'typedef'));
  }

  facts(): KernelFacts {
    const caps = effectiveCaps();
    return {
      release: this.release,
      btf: this.btf,
      lockdown: readLockdown(),
      tracefs: this.tracefsState,
      kprobes: this.kprobes,
      ringbuf: features.hasRingBuffer(),
      capabilities: [...caps].sort(),
      missingCapabilities: missingCaps(caps),
      modules: [...this.modules].filter((m) => /vfio|iommu/.test(m)).sort(),
    };
  }

  close(): void {
    this.vmlinux?.close();
    for (const b of this.moduleBtf.values()) b?.close();
  }
}
