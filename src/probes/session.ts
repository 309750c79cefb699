import * as path from 'node:path';
import { Constants, MapName, MAPS } from '../generated/bpf';
import { BpfObject, Link, LoadError, PACKAGE_ROOT } from '../loader';
import { bpfObjectFile } from '../loader/arch';
import { sizeForHost } from './kernel-memory';
import { KernelView } from './kernel-view';
import { plan, PlannedProbe } from './planner';
import { reason, Reason } from './reasons';
import { AddressConstant, ProbeSpec } from './types';

export const DEFAULT_OBJECT = path.join(PACKAGE_ROOT, bpfObjectFile());

export interface SessionOptions {
  objectPath?: string;
  /** Which logical probes to run (default: all but the opt-in ones). */
  select?: (name: string) => boolean;
  /**
   * Send every event to the ring buffer (record mode, the default); false: only the
   * ones that need single events, the rest summed in the kernel (top and export).
   */
  recordAll?: boolean;
  /**
   * With recordAll false: also send the calls summed in the kernel to the ring,
   * marked, so the two paths can be compared call for call (tests).
   */
  checkAggregation?: boolean;
  /** Ring buffer size in bytes (a power of two, at least a page). */
  ringBytes?: number;
  /** Trace only this process (tests and benchmarks). */
  targetTgid?: number;
  /** Records the selftest producer emits per getppid() (benchmarks). */
  selftestBurst?: number;
  /**
   * Ring bytes waiting before a record wakes the reader (default 0: every record);
   * only for readers that also drain the ring on a timer.
   */
  wakeBytes?: number;
  /**
   * Prefer fentry/fexit inside modules too (cheaper per call); by default kprobes are
   * used there, since an attached trampoline makes the kernel refuse the module's rmmod.
   */
  holdModules?: boolean;
}

/** How many times a load is retried after dropping the probes the verifier refused. */
const MAX_LOADS = 6;

function firstVerifierLine(log: string, program: string): string {
  const lines = log.split('\n').map((l) => l.trim());
  const mine = lines.filter((l) => l.includes(`'${program}'`));
  // libbpf prints "prog 'x': BPF program load failed: <reason>" and then the log.
  const failed = mine.find((l) => /load failed|failed to/.test(l));
  return (failed ?? mine[0] ?? lines.find(Boolean) ?? 'load failed').replace(/^libbpf:\s*/, '');
}

/**
 * The probes of one run, planned for this kernel, loaded and attached. A probe
 * that cannot be loaded or attached is marked unavailable with its reason and
 * the others keep running.
 */
export class ProbeSession {
  /** Objects loaded after the start, for modules loaded after it; they share the first object's maps. */
  private readonly later: BpfObject[] = [];

  private constructor(
    readonly object: BpfObject,
    readonly probes: PlannedProbe[],
    private readonly catalogue: ProbeSpec[],
    private readonly options: SessionOptions,
  ) {}

  static async start(kernel: KernelView & { btfCustomPath?: string }, catalogue: ProbeSpec[], options: SessionOptions = {}): Promise<ProbeSession> {
    const probes = plan(kernel, catalogue, options.select, { holdModules: options.holdModules });
    const obj = await loadAttached(kernel, catalogue, probes, options);
    return new ProbeSession(obj, probes, catalogue, options);
  }

  attached(): PlannedProbe[] {
    return this.probes.filter((p) => p.status === 'attached');
  }

  /**
   * Plans again, on `kernel` as it is now, the probes that are not running and could
   * live in one of `modules` (just loaded), and loads and attaches those it can in an
   * object of their own whose programs count into this session's maps. Returns the
   * probes that attached. The others keep their new reasons.
   */
  async follow(kernel: KernelView & { btfCustomPath?: string }, modules: readonly string[]): Promise<PlannedProbe[]> {
    if (this.object.state !== 'loaded') return [];
    const waiting = new Map(this.probes.filter((p) => p.status !== 'attached' && p.reasonCode !== 'not_requested').map((p) => [p.name, p]));
    const specs = this.catalogue.filter((s) => waiting.has(s.name) && s.candidates.some((c) => c.module && modules.includes(c.module)));
    if (!specs.length) return [];
    const fresh = plan(kernel, specs, () => true, { holdModules: this.options.holdModules });
    if (!fresh.some((p) => p.status === 'available')) return [];
    let obj: BpfObject;
    try {
      obj = await loadAttached(kernel, specs, fresh, this.options, this.object);
    } catch (err) {
      // Said where the probes are looked at (doctor's words, the metrics, the overlay); the others run on.
      const why = reason('load_failed', `loaded when module ${modules.join(', ')} came: ${(err as Error).message.split('\n')[0]}`);
      for (const p of fresh) if (p.status === 'available') unavailable(waiting.get(p.name)!, why);
      return [];
    }
    // Closed while this one loaded: nothing may outlive the session.
    if (this.object.state !== 'loaded') {
      obj.close();
      return [];
    }
    const attached = fresh.filter((p) => p.status === 'attached');
    if (attached.length) this.later.push(obj);
    else obj.close();
    // In place: callers hold the session's probe objects.
    for (const p of fresh) if (p.status === 'attached') Object.assign(waiting.get(p.name)!, p);
    return attached.map((p) => waiting.get(p.name)!);
  }

  /**
   * Marks the attached probes whose target lives in `module` detached (the module was
   * unloaded: a kprobe there is gone for good, even if the module comes back) and
   * closes their links; the other probes keep running. An object loaded for modules
   * is closed once none of its probes runs. Returns the probes marked.
   */
  detachModule(module: string, why: string): PlannedProbe[] {
    const hit = this.probes.filter((p) => p.status === 'attached' && p.module === module);
    const programs = new Set(hit.flatMap((p) => p.programs.map((x) => x.program)));
    for (const obj of [this.object, ...this.later]) for (const l of obj.links()) if (programs.has(l.program)) l.close();
    for (const p of hit) {
      p.status = 'detached';
      p.reason = why;
      p.reasonCode = 'detached';
    }
    for (let i = this.later.length - 1; i >= 0; i--) {
      if (this.later[i].links().every((l) => l.closed)) this.later.splice(i, 1)[0].close();
    }
    return hit;
  }

  /** The loaded programs' fds by name, over the first object and the later ones. */
  programFds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const obj of [this.object, ...this.later]) for (const p of obj.programs()) if (p.fd >= 0) out.set(p.name, p.fd);
    return out;
  }

  /** Detaches every probe (the first object's and the later ones'), keeping the maps to read. */
  detachAll(): void {
    for (const obj of [this.object, ...this.later]) for (const l of obj.links()) l.close();
  }

  close(): void {
    for (const obj of this.later) obj.close();
    this.later.length = 0;
    this.object.close();
  }
}

/**
 * Opens the object, loads the probes planned available (dropping those the verifier
 * refuses, up to MAX_LOADS times) and attaches them. With `shared`, the maps are that
 * (loaded) object's, not new ones.
 */
async function loadAttached(
  kernel: KernelView & { btfCustomPath?: string },
  catalogue: ProbeSpec[],
  probes: PlannedProbe[],
  options: SessionOptions,
  shared?: BpfObject,
): Promise<BpfObject> {
  // IOMMUTRACE_BPF_OBJECT: another build of the object, for benchmarks comparing builds in one boot.
  const objectPath = options.objectPath ?? process.env.IOMMUTRACE_BPF_OBJECT ?? DEFAULT_OBJECT;
  for (let attempt = 1; ; attempt++) {
    const obj = BpfObject.open(objectPath, { tracefs: kernel.tracefs, btfCustomPath: kernel.btfCustomPath });
    // Nothing to run: an empty load would only fail (without kernel BTF libbpf refuses
    // the object as a whole) or hold maps for nothing. The session says why per probe.
    if (!probes.some((p) => p.status === 'available')) return obj;
    try {
      configure(obj, probes, options, addresses(kernel, catalogue, probes));
      if (shared) obj.shareMaps(shared, SHARED_MAPS);
      await obj.load();
    } catch (err) {
      obj.close();
      if (!(err instanceof LoadError) || attempt >= MAX_LOADS || !dropRefused(probes, err)) throw err;
      continue;
    }
    attachAll(obj, probes);
    return obj;
  }
}

/** Every map the programs count into (the data sections are each object's own, set alike). */
const SHARED_MAPS = Object.keys(MAPS) as MapName[];

function unavailable(p: PlannedProbe, why: Reason): void {
  p.status = 'unavailable';
  p.reason = why.text;
  p.reasonCode = why.code;
}

/** The kernel addresses the probes about to load read (ProbeSpec.addresses), by constant; 0 when not found. */
function addresses(kernel: KernelView, catalogue: ProbeSpec[], probes: PlannedProbe[]): Record<AddressConstant, bigint> {
  const out: Record<AddressConstant, bigint> = { it_cfg_dma_entry_limit_addr: 0n };
  const running = new Set(probes.filter((p) => p.status === 'available').map((p) => p.name));
  for (const spec of catalogue) {
    if (!running.has(spec.name)) continue;
    for (const a of spec.addresses ?? []) out[a.constant] = kernel.moduleDataAddress?.(a.module, a.symbol) ?? 0n;
  }
  return out;
}

function configure(obj: BpfObject, probes: PlannedProbe[], options: SessionOptions, kernelAddresses: Record<AddressConstant, bigint>): void {
  obj.disableAll();
  for (const p of probes) {
    if (p.status !== 'available') continue;
    try {
      for (const prog of p.programs) {
        obj.setAutoload(prog.program, true);
        if (prog.attach === 'fentry' || prog.attach === 'fexit') obj.setAttachTarget(prog.program, p.target!);
      }
    } catch (err) {
      for (const prog of p.programs) obj.setAutoload(prog.program, false);
      unavailable(p, reason('load_failed', (err as Error).message.split('\n')[0]));
    }
  }
  obj.setConstants({
    it_cfg_record_all: options.recordAll === false ? (options.checkAggregation ? 2 : 0) : 1,
    it_cfg_target_tgid: options.targetTgid ?? 0,
    it_cfg_selftest_burst: options.selftestBurst ?? 1,
    ...kernelAddresses,
    it_cfg_wake_bytes: options.wakeBytes ?? 0,
  } satisfies Constants);
  if (options.ringBytes) obj.setMaxEntries('it_events' satisfies MapName, options.ringBytes);
  sizeForHost(obj);
}

/** Marks the probes whose programs the verifier refused; false when none could be blamed. */
function dropRefused(probes: PlannedProbe[], err: LoadError): boolean {
  let dropped = false;
  for (const p of probes) {
    if (p.status !== 'available') continue;
    const bad = p.programs.find((prog) => err.programs.includes(prog.program));
    if (bad) {
      unavailable(p, reason('refused_by_kernel', `the kernel refused ${bad.program}: ${firstVerifierLine(err.log, bad.program)}`));
      dropped = true;
    }
  }
  return dropped;
}

function attachAll(obj: BpfObject, probes: PlannedProbe[]): void {
  for (const p of probes) {
    if (p.status !== 'available') continue;
    const links: Link[] = [];
    try {
      for (const prog of p.programs) {
        const needsTarget = !['fentry', 'fexit', 'tp_btf'].includes(prog.attach);
        links.push(obj.attach(prog.program, prog.attach, needsTarget ? p.target! : undefined));
      }
      p.status = 'attached';
    } catch (err) {
      for (const l of links) l.close();
      unavailable(p, reason('refused_by_kernel', (err as Error).message.split('\n')[0]));
    }
  }
}
