import { hostDevices, readGroupTypes, type HostDevice } from '../probes/iommu-groups';
import * as os from 'node:os';
import { Decoder, timeBase } from '../events/decode';
import { readCounter, takeRequesters } from '../events/maps';
import { EventSchema } from '../events/schema';
import { RawEvent } from '../events/types';
import { forEachRecord, Kallsyms, RingBuffer } from '../loader';
import { CATALOGUE } from '../probes/catalogue';
import { LiveKernel } from '../probes/kernel-live';
import { loadedMapMemory, type MapMemoryUse } from '../probes/kernel-memory';
import { PlannedProbe } from '../probes/planner';
import { DEFAULT_OBJECT, ProbeSession, SessionOptions } from '../probes/session';
import { ProbeSpec } from '../probes/types';
import { ProcessFacts, ProcessFactsCache } from '../process/facts';
import { MAPS } from '../generated/bpf';
import { KernelAggregates, type KernelMapUse } from './kernel-aggregates';
import { type ModuleLine, ModuleWatch, readModuleLines } from './module-watch';
import { CallsSink, EventSource, ProbeChange, ProbeStatus } from './source';

export interface LiveOptions extends SessionOptions {
  /** The probes to plan from (default: the whole catalogue); `record --probes NAME:MODE` narrows candidates. */
  catalogue?: ProbeSpec[];
}

/** How often the kernel's sums are read in aggregated mode (sinks may flush() more often). */
export const AGGREGATE_POLL_MS = 1000;

/**
 * How often the ring is drained when no read of the sums does it: records wake the
 * reader only once a quarter of the ring waits, since each wakeup is an interrupt
 * taken inside the traced call (bpf/include/common.h it_submit).
 */
export const RING_DRAIN_MS = 250;

/**
 * How often /proc/modules is read: to notice a module unloaded under attached probes,
 * and one loaded that holds probes not running yet. One read is one small file
 * (about 20 µs of CPU on a host with 100 modules: 0.004 % of a core at this pace).
 */
export const MODULE_POLL_MS = 500;

/**
 * How often the processes that asked for DMA maps (it_requesters) are looked up,
 * apart from the ring: at this pace from the module look's timer, and from the
 * ring's batches, which a long drain would otherwise hold back.
 */
const REQUESTERS_POLL_MS = MODULE_POLL_MS;

/**
 * Event kinds whose processes are looked up in /proc: those that map or pin (the
 * report's processes[]) or whose maps failed (map_failures[]), and the selftest probe, so the lookup can be tested on
 * kernels where nothing maps. Others would fill the bounded cache with bystanders.
 */
const FACT_KINDS = new Set<string>(['dma', 'pin', 'gup', 'map_request', 'selftest']);

/** No probe could be attached: one line saying why, for the live commands. */
export class NoProbeError extends Error {
  constructor(readonly probes: PlannedProbe[]) {
    super(NoProbeError.describe(probes));
  }

  static describe(planned: PlannedProbe[]): string {
    const probes = planned.filter((p) => p.reasonCode !== 'not_requested');
    if (probes.length === 0) return 'no probe was selected';
    // A probe with no usable candidate has a reason per candidate; one that failed at load or attach, one.
    const reasons = probes.map((p) => new Set(p.mode === null && p.tried.length ? p.tried.map((t) => t.reason) : [p.reason ?? 'not attached']));
    const common = [...reasons[0]].filter((r) => reasons.every((set) => set.has(r)));
    const why =
      common.length === 1
        ? common[0]
        : probes.length === 1
          ? `${probes[0].name}: ${probes[0].reason}`
          : `none of the ${probes.length} probes is usable here`;
    return `no probe can attach on this kernel: ${why} (see iommutrace doctor)`;
  }
}

/**
 * The kernel as an event source: plans and attaches the probes, consumes the ring
 * buffer on the event loop, decodes with layouts from the object's BTF. Event
 * times count from `clockBaseNs` (CLOCK_MONOTONIC at start, as bpf_ktime_get_ns).
 */
export class LiveSource implements EventSource {
  readonly kind = 'live';
  readonly host = os.hostname();
  readonly clockBaseNs: bigint;
  readonly wallBaseUnixNs: number;
  events = 0;
  private kallsyms?: Kallsyms;
  private onEvent: (e: RawEvent) => void = () => {};
  private ring!: RingBuffer;
  private watch?: ModuleWatch;
  private moduleTimer?: NodeJS.Timeout;
  /** A look at the modules that is loading probes (one at a time). */
  private following?: Promise<ProbeChange[]>;
  /** Probes that attached or detached during the session (modules loaded and unloaded), in order. */
  readonly probeChanges: ProbeChange[] = [];
  private readonly listeners: ((changes: ProbeChange[]) => void)[] = [];
  /** Every device behind an IOMMU when the session began. */
  hostDevices: HostDevice[] = [];
  /** VM names and cgroups of the processes events name, read while they live. */
  readonly processes = new ProcessFactsCache();
  /** Aggregated mode (recordAll false): what the kernel sums, read at each flush. */
  private aggregates?: KernelAggregates;
  private sink?: CallsSink;
  private aggTimer?: NodeJS.Timeout;
  private drainTimer?: NodeJS.Timeout;
  private paused = false;
  /** Whether the object has it_requesters (an older build may not), and when it was last read. */
  private requesters = false;
  private requestersAtMs = -Infinity;

  private constructor(
    readonly kernel: LiveKernel,
    readonly session: ProbeSession,
    readonly decoder: Decoder,
    clockBaseNs: bigint,
    wallBaseUnixNs: number,
  ) {
    this.clockBaseNs = clockBaseNs;
    this.wallBaseUnixNs = wallBaseUnixNs;
  }

  /** Plans and attaches the probes; events wait in the kernel's ring until start(). */
  static async open(options: LiveOptions = {}): Promise<LiveSource> {
    const kernel = new LiveKernel();
    const objectPath = options.objectPath ?? DEFAULT_OBJECT;
    const decoder = new Decoder(EventSchema.fromFile(objectPath));
    // Taken before attaching, so no event predates it.
    const clockBaseNs = process.hrtime.bigint();
    const wallBaseUnixNs = Date.now() * 1e6;
    decoder.base = timeBase(clockBaseNs);
    let session: ProbeSession;
    try {
      session = await ProbeSession.start(kernel, options.catalogue ?? CATALOGUE, { ...options, wakeBytes: (options.ringBytes ?? MAPS.it_events.maxEntries) / 4 });
    } catch (err) {
      kernel.close();
      throw err;
    }
    // Planned and attached: the symbols planning read are not needed again (modules
    // loaded later get a view of their own). The BTF stays until stop: closed here, the
    // arm64 guest's record crashed (SIGSEGV) in most runs.
    kernel.forgetSymbols();
    if (session.attached().length === 0) {
      session.close();
      kernel.close();
      throw new NoProbeError(session.probes);
    }
    const src = new LiveSource(kernel, session, decoder, clockBaseNs, wallBaseUnixNs);
    // The modules as they are now (the probes in them are planned): later looks compare.
    src.watch = new ModuleWatch(readModuleLines());
    const check = options.recordAll === false && options.checkAggregation === true;
    const flagAt = decoder.typeOffset + 1;
    const flag = decoder.schema.summedFlag >> 8;
    src.requesters = session.object.mapNames().includes('it_requesters');
    src.ring = new RingBuffer(session.object.map('it_events'), (batch) => {
      src.seeRequesters();
      forEachRecord(batch, (off, len) => {
        // Check mode: a summed call's record is marked; it goes only to the sink's everyEvent.
        const summed = check && (batch.buffer[off + flagAt] & flag) !== 0;
        if (summed) batch.buffer[off + flagAt] &= ~flag;
        const e = decoder.decode(batch.buffer, off, len);
        if (!e) return;
        if (check) src.sink?.everyEvent?.(e, summed);
        if (summed) return;
        src.events++;
        if (FACT_KINDS.has(e.kind)) src.processes.see(e.pid, e.tid, e.comm);
        src.onEvent(e);
      });
    });
    src.ring.pause();
    if (options.recordAll === false) src.aggregates = new KernelAggregates(session.object, clockBaseNs);
    // What was attached before we started: the devices from sysfs and /proc, and,
    // where the snapshot probe runs, each group's current domain into the ring first.
    src.hostDevices = hostDevices();
    if (src.attached.has('iommu.group_snapshot')) readGroupTypes();
    return src;
  }

  start(onEvent: (e: RawEvent) => void, _onEnd?: () => void, sink?: CallsSink): void {
    this.onEvent = onEvent;
    this.sink = sink;
    this.ring.resume();
    if (this.aggregates && sink && !this.aggTimer) {
      this.aggTimer = setInterval(() => this.flush(), AGGREGATE_POLL_MS);
      this.aggTimer.unref();
    }
    if (!this.aggTimer && !this.drainTimer) {
      this.drainTimer = setInterval(() => {
        if (!this.paused && !this.ring.closed) this.ring.drain();
      }, RING_DRAIN_MS);
      this.drainTimer.unref();
    }
    if (!this.moduleTimer) {
      this.moduleTimer = setInterval(() => {
        this.seeRequesters(true);
        void this.checkModules();
      }, MODULE_POLL_MS);
      this.moduleTimer.unref();
    }
  }

  /**
   * Looks up in /proc the processes that asked for DMA maps since the last look
   * (from a batch, at most every REQUESTERS_POLL_MS): their events may wait behind
   * a backlog in the ring (or a pause) while they exit.
   */
  private seeRequesters(now = false): void {
    const t = Date.now();
    if (!this.requesters || this.ring.closed || (!now && t - this.requestersAtMs < REQUESTERS_POLL_MS)) return;
    this.requestersAtMs = t;
    for (const r of takeRequesters(this.session.object)) this.processes.see(r.tgid, r.tid, r.comm);
  }

  onProbeChange(listener: (changes: ProbeChange[]) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Looks at /proc/modules: the attached probes of a module that is gone (or came back
   * at another address, unloaded and loaded again between two looks: a kprobe there
   * stays gone) are detached, and the probes not running that a module now loaded
   * holds are planned and attached. The other probes keep running. Resolves with what
   * changed; a look while another is loading probes waits for it instead.
   */
  checkModules(now?: Map<string, ModuleLine>): Promise<ProbeChange[]> {
    if (this.following) return this.following;
    const { gone, loaded } = this.watch!.look(now ?? readModuleLines());
    const changes = this.detachGone(gone);
    if (!loaded.length) {
      this.tell(changes);
      return Promise.resolve(changes);
    }
    // A load that fails marks its probes unavailable with why (ProbeSession.follow).
    this.following = this.attachLoaded(loaded)
      .then((attached) => [...changes, ...attached])
      // The kernel's view could not be read: nothing attached now; the next load tries again.
      .catch(() => changes)
      .then((all) => {
        this.following = undefined;
        this.tell(all);
        return all;
      });
    return this.following;
  }

  private detachGone(gone: { module: string; reloaded: boolean }[]): ProbeChange[] {
    const out: ProbeChange[] = [];
    for (const { module, reloaded } of gone) {
      const atNs = this.now();
      const reason = `module ${module} was ${reloaded ? 'unloaded and loaded again' : 'unloaded'} ${(atNs / 1e9).toFixed(1)} s into the session`;
      for (const p of this.session.detachModule(module, reason)) out.push({ probe: p.name, module, change: 'detached', atNs, unixSeconds: Date.now() / 1000, reason });
    }
    return out;
  }

  private async attachLoaded(modules: string[]): Promise<ProbeChange[]> {
    if (this.stopped) return [];
    // Just those modules: the kernel image's BTF and symbols were planned against at the start.
    const kernel = new LiveKernel({ mountTracefs: false, modules, base: this.kernel.vmlinuxBtf() });
    try {
      const attached = await this.session.follow(kernel, modules);
      const atNs = this.now();
      return attached.map((p) => {
        const reason = `module ${p.module ?? modules.join(', ')} was loaded ${(atNs / 1e9).toFixed(1)} s into the session`;
        // Attached, and why only now: the probe overlay, the capture's snapshot.
        p.reason = `attached when ${reason}`;
        return { probe: p.name, module: p.module ?? '', change: 'attached', atNs, unixSeconds: Date.now() / 1000, reason };
      });
    } finally {
      kernel.close();
    }
  }

  private tell(changes: ProbeChange[]): void {
    if (!changes.length) return;
    this.probeChanges.push(...changes);
    for (const l of this.listeners) l(changes);
  }

  get kernelRelease(): string {
    return this.kernel.release;
  }

  get planned(): PlannedProbe[] {
    return this.session.probes;
  }

  get probes(): ProbeStatus[] {
    // What was asked for: the capture header alone lists the probes --probes left out.
    return this.session.probes
      .filter((p) => p.reasonCode !== 'not_requested')
      .map((p) => ({ name: p.name, target: p.target, mode: p.mode, status: p.status, reason: p.reason }));
  }

  get attached(): Set<string> {
    return new Set(this.session.attached().map((p) => p.name));
  }

  /** Nanoseconds since the clock base, now. */
  now(): number {
    return Number(process.hrtime.bigint() - this.clockBaseNs);
  }

  /** Events the kernel could not put in the ring (it was full), since the session started. */
  lost(): number {
    return this.final?.lost ?? readCounter(this.session.object, 'ringbuf_lost');
  }

  /** The counters as they were when the session closed (its maps are gone then). */
  private final?: { lost: number; sumOverflow: number; memory: MapMemoryUse[] };
  private stopped = false;

  sumOverflow(): number {
    return this.final?.sumOverflow ?? (this.aggregates ? readCounter(this.session.object, 'agg_overflow') : 0);
  }

  kernelMemory(): MapMemoryUse[] {
    return this.final?.memory ?? loadedMapMemory(this.session.object);
  }

  kernelMaps(): KernelMapUse[] {
    return this.aggregates?.use ?? [];
  }

  processFacts(pid: number): ProcessFacts | undefined {
    return this.processes.get(pid);
  }

  processFactsUnread(): number {
    return this.processes.overflow;
  }

  symbolize(address: bigint): string {
    this.kallsyms ??= Kallsyms.load();
    return this.kallsyms.symbolize(address);
  }

  /** Whether the kernel sums what needs no single event (top and export) rather than sending every event. */
  get aggregated(): boolean {
    return this.aggregates !== undefined;
  }

  /**
   * Aggregated mode: hands the sink what the kernel summed since the last flush.
   * The sums are read before the ring is drained and handed over after it: every
   * attach that names a summed call's domain was in the ring before that call was
   * summed, so the sink sees it first, as the kernel did (drained first, an attach
   * and its DMA landing between the drain and the read went to "unknown").
   */
  flush(): void {
    if (!this.aggregates || !this.sink || this.paused || this.ring.closed) return;
    const sums = this.aggregates.read();
    this.ring.drain();
    this.deliverSums(sums);
  }

  private deliverSums(sums = this.aggregates?.read()): void {
    const sink = this.sink;
    if (!sums || !sink) return;
    for (const c of sums) {
      this.events += c.calls;
      if (c.pid > 0 && c.calls > 0) this.processes.see(c.pid, c.tid, c.comm);
      sink.addCalls(c);
    }
  }

  pause(): void {
    this.paused = true;
    this.ring.pause();
  }

  resume(): void {
    this.paused = false;
    this.ring.resume();
  }

  /**
   * Detaches, hands over what is still in the ring, then closes. Returns the
   * final count of lost events (read before the maps go away).
   */
  stop(): number {
    if (this.final) return this.final.lost; // stopped already
    this.stopped = true;
    if (this.moduleTimer) clearInterval(this.moduleTimer);
    this.moduleTimer = undefined;
    if (this.aggTimer) clearInterval(this.aggTimer);
    this.aggTimer = undefined;
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    // A module unloaded since the last look still counts as a detachment in this session.
    if (!this.following) this.tell(this.detachGone(this.watch!.look(readModuleLines()).gone));
    this.session.detachAll();
    if (!this.ring.closed) {
      this.seeRequesters(true);
      this.ring.drain();
      // After the links are gone the sums are final: the last read makes them whole.
      if (!this.paused) this.deliverSums();
      this.ring.close();
    }
    this.final = { lost: this.lost(), sumOverflow: this.sumOverflow(), memory: this.kernelMemory() };
    this.session.close();
    this.kernel.close();
    return this.final.lost;
  }
}
