import { Btf } from './btf';
import * as lifecycle from './lifecycle';
import { BpfMap } from './map';
import { native, NativeLink, NativeMapInfo, NativeObject, NativeProgramInfo } from './native';

/** How a BPF program attaches: the one list (the CLI reports these names). */
export const ATTACH_KINDS = ['fentry', 'fexit', 'kprobe', 'kretprobe', 'tracepoint', 'tp_btf', 'raw_tp'] as const;
export type AttachKind = (typeof ATTACH_KINDS)[number];
/** The kinds that go through a BPF trampoline. */
export type Trampoline = Extract<AttachKind, 'fentry' | 'fexit'>;

export interface OpenOptions {
  /** BTF to relocate against instead of /sys/kernel/btf/vmlinux (kernels without it). */
  btfCustomPath?: string;
  /** Where tracefs is mounted, for tracepoint attach (default /sys/kernel/tracing). */
  tracefs?: string;
}

/** A load failure, with libbpf's messages and the verifier log. */
export class LoadError extends Error {
  constructor(
    message: string,
    readonly errno: number,
    readonly log: string,
    /** Programs libbpf named in its failure messages. */
    readonly programs: string[],
  ) {
    super(message);
  }
}

/** An attachment; close() detaches. */
export class Link {
  constructor(
    private readonly raw: NativeLink,
    readonly program: string,
    readonly mode: AttachKind,
    readonly target: string,
  ) {}

  get closed(): boolean {
    return this.raw.closed;
  }

  get fd(): number {
    return this.raw.fd;
  }

  close(): void {
    this.raw.close();
  }
}

/** A BPF object file: open, configure programs, load (off the main thread), attach, close. */
export class BpfObject {
  private readonly raw: NativeObject;
  private readonly mapCache = new Map<string, BpfMap>();
  private readonly linkList: Link[] = [];
  private btfCache?: Btf;

  private constructor(
    readonly path: string,
    raw: NativeObject,
  ) {
    this.raw = raw;
    lifecycle.track(lifecycle.OBJECT, this);
  }

  static open(path: string, options: OpenOptions = {}): BpfObject {
    return new BpfObject(path, new (native().BpfObject)(path, options));
  }

  get state(): NativeObject['state'] {
    return this.raw.state;
  }

  programs(): NativeProgramInfo[] {
    return this.raw.programs();
  }

  setAutoload(program: string, on: boolean): void {
    this.raw.setAutoload(program, on);
  }

  /** Turns every program off; callers then enable the ones they planned. */
  disableAll(): void {
    for (const p of this.programs()) this.raw.setAutoload(p.name, false);
  }

  /** The kernel function an fentry/fexit program traces; set before load. */
  setAttachTarget(program: string, fn: string): void {
    this.raw.setAttachTarget(program, fn);
  }

  /** The object's own BTF (event layouts, enums, data sections). */
  btf(): Btf {
    this.btfCache ??= Btf.file(this.path);
    return this.btfCache;
  }

  /**
   * Sets `const volatile` globals before load. Values are written little-endian
   * at the variable's offset in .rodata, as read from the object's BTF.
   */
  setConstants(values: Record<string, number | bigint | boolean>): void {
    const vars = this.btf().datasec('.rodata');
    const data = this.raw.initialValue('.rodata');
    if (!vars || !data) throw new Error(`${this.path} has no .rodata`);
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) throw new Error(`${this.path} has no constant ${name}`);
      const n = typeof value === 'boolean' ? (value ? 1 : 0) : value;
      if (v.size === 8) data.writeBigUInt64LE(BigInt(n), v.offset);
      else data.writeUIntLE(Number(n), v.offset, v.size);
    }
    this.raw.setInitialValue('.rodata', data);
  }

  /** Resizes a map before load (ring buffers: bytes, a power of two multiple of the page size). */
  setMaxEntries(map: string, entries: number): void {
    this.raw.setMaxEntries(map, entries);
  }

  /**
   * Before load: these maps are `other`'s (loaded), not created anew, so this object's
   * programs count into the same tables and ring (probes added after the start).
   */
  shareMaps(other: BpfObject, names: readonly string[]): void {
    for (const name of names) this.raw.reuseMapFd(name, other.map(name).fd);
  }

  async load(): Promise<void> {
    try {
      await this.raw.load();
    } catch (err) {
      const e = err as Error & { errno?: number; libbpfLog?: string };
      const log = e.libbpfLog ?? '';
      const programs = [...new Set([...log.matchAll(/prog '([^']+)'/g)].map((m) => m[1]))];
      throw new LoadError(e.message, e.errno ?? 0, log, programs);
    }
  }

  attach(program: string, mode: AttachKind, target?: string): Link {
    const link = new Link(this.raw.attach(program, mode, target), program, mode, target ?? '');
    this.linkList.push(link);
    return link;
  }

  links(): readonly Link[] {
    return this.linkList;
  }

  map(name: string): BpfMap {
    let m = this.mapCache.get(name);
    if (!m) {
      const info = this.raw.maps().find((x) => x.name === name);
      if (!info) throw new Error(`${this.path} has no map ${name}`);
      if (info.fd < 0) throw new Error(`map ${name} is not loaded yet`);
      m = new BpfMap(info);
      this.mapCache.set(name, m);
    }
    return m;
  }

  /** Every map's type, sizes, capacity and flags (before the load too: then fd is -1). */
  mapInfo(): NativeMapInfo[] {
    return this.raw.maps();
  }

  mapNames(): string[] {
    return this.raw.maps().map((m) => m.name);
  }

  /** Detaches every link, then closes the object and its maps. Idempotent. */
  close(): void {
    if (this.raw.state === 'closed') return;
    for (const l of this.linkList) l.close();
    this.linkList.length = 0;
    this.raw.close();
    this.btfCache?.close();
    this.btfCache = undefined;
    lifecycle.untrack(lifecycle.OBJECT, this);
  }
}
