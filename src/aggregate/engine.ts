import type { HostDevice } from '../probes/iommu-groups';
import { DirtyEvent, GroupRefEvent, GupEvent, IommuTpEvent, PinEvent, RawEvent } from '../events/types';
import { Calls, callsOf, feedHistogram, hasLatency, noCalls } from './calls';
import { MapFailureTable } from './map-failures';
import { attachSource, DeviceTable } from './devices';
import { errnoName } from './errno';
import { FaultTable } from './faults';
import { GroupLedger, LedgerLimits } from './groups';
import { IotlbTable } from './iotlb';
import { kernelSizeClass } from './map-sizes';
import { Histogram } from './loglinear';
import type { ProcessFacts } from '../process/facts';
import { PerDevice } from './per-device';
import { MAX_PROCESS_ROWS, ProcessTable } from './processes';
import { GupCounts, Report } from './report';
import { isUnpin, Quantity, roleOf, sources, sourcesOf } from './truth';
import { UnpinNesting } from './unpins';

export interface AggregatorOptions {
  /** Logical probes that were attached: decides which events are authoritative. */
  attached: Set<string>;
  /** Kernel address -> "func+0x1c [module]". */
  symbolize: (address: bigint) => string;
  leakAgeNs: number;
  /** Bounds of the reference ledger (see GroupLedger). */
  limits?: LedgerLimits;
  /** Every device behind an IOMMU when the source began: paths and IOMMU drivers. */
  hostDevices?: HostDevice[];
  /** What the recording host read of a process (VM name, cgroup); asked at summary time. */
  processFacts?: (pid: number) => ProcessFacts | undefined;
  /** Events whose process the recording host did not look up (its table was full). */
  processFactsOverflow?: () => number;
  /** Bound of the per-process table (default MAX_PROCESS_ROWS). */
  maxProcesses?: number;
}

/** The end of an exhaustive switch: `e` is never anything, or tsc says which case is missing. */
function unhandled(e: never): void {
  void e;
}

function gupCounts(): GupCounts {
  return { calls: 0, pages_requested: 0, pages_pinned: 0, fast_pages: 0, slow_pages: 0, partial: 0, errors: 0 };
}

/** What the aggregator keeps per probe: its calls, latency, and the quantity it counts (truth.ts). */
interface ProbeStats {
  events: number;
  hist: Histogram | undefined;
  counts: Quantity | undefined;
}

const MAX_FAULTS = 1000;

/**
 * Turns events into answers: pure, no I/O, the same for live and replayed
 * sources. Every count is exact for the events it was given.
 */
export class Aggregator {
  total = 0;
  lastTs = 0;
  readonly latency = new Map<string, Histogram>();
  readonly devices: DeviceTable;
  readonly ledger: GroupLedger;
  readonly dma = { map_calls: 0, map_bytes: 0, unmap_calls: 0, unmap_bytes: 0 };
  readonly pins = { vfio_pages: 0, iommufd_pages: 0, unpinned_pages: 0, vfio_unpinned_pages: 0, iommufd_unpinned_pages: 0, gup_unpinned_pages: 0 };
  private readonly nesting = new UnpinNesting();
  private readonly pinLedger = new Map<string, { pid: number; comm: string; path: string; pinned: number; unpinned: number }>();
  readonly gup = gupCounts();
  /** DMA and pins per process (report `processes[]`). */
  readonly processes: ProcessTable;
  /** Failed user-space maps, explained (report `map_failures[]`). */
  readonly mapFailures: MapFailureTable;
  /** The same per process (pid -1: the ones past MAX_PROCESS_ROWS). */
  private readonly gupByPid = new Map<number, GupCounts & { pid: number; comm: string }>();
  readonly gupErrors = new Map<string, number>();
  readonly dirty = { walks: 0, errors: 0, bytes_walked: 0 };
  /** Walk callback address -> walks: it tells VFIO device-side tracking from iommufd's. */
  readonly dirtyCallbacks = new Map<bigint, number>();
  readonly faults: Report['page_faults'] = [];
  /** IOTLB syncs and flushes per device. */
  readonly iotlb: IotlbTable;
  /** IO page faults per device, from the tracepoint or the driver's log (report `faults[]`). */
  readonly ioFaults = new FaultTable((d) => this.devices.rows.get(d));
  /** Per probe: its event count, and its latency histogram (the one in `latency`). */
  private readonly probes = new Map<string, ProbeStats>();
  /** The last event's probe and its entry: events come in runs of one probe. */
  private lastProbe = '';
  private lastStats: ProbeStats = { events: 0, hist: undefined, counts: undefined };
  /** The call of the event being added (callsOf fills it; nothing keeps it). */
  private readonly one: Calls = noCalls('iommu.map', 0, 0, '', 0n, -1);
  /** Latency and pinned pages per device (the dashboard, the metrics). */
  readonly perDevice: PerDevice;
  private gupFrom = new Set<string>();
  private pinFrom = new Set<string>();
  /** Whether a VFIO or iommufd unpin may hold GUP unpins (they are then counted there). */
  private pathUnpins = false;

  constructor(private opts: AggregatorOptions) {
    this.devices = new DeviceTable(attachSource(opts.attached), opts.hostDevices);
    this.ledger = new GroupLedger(opts.limits);
    this.iotlb = new IotlbTable(this.devices);
    this.perDevice = new PerDevice(this.devices, opts.attached);
    this.processes = new ProcessTable(opts.maxProcesses);
    this.mapFailures = new MapFailureTable(opts.maxProcesses);
    this.probesAttached(opts.attached);
  }

  /**
   * The probes that run changed (a module loaded or unloaded during a live session):
   * the choice of which probes count what follows, from the next event on. Probes
   * that detached stay in: their events so far were the truth.
   */
  probesAttached(attached: ReadonlySet<string>): void {
    const ran = new Set([...this.opts.attached, ...attached]);
    this.opts = { ...this.opts, attached: ran };
    this.perDevice.probesAttached(ran);
    this.gupFrom = sources('gup', ran);
    this.pinFrom = sourcesOf(['pin.vfio', 'pin.iommufd', 'unpin.vfio', 'unpin.iommufd', 'unpin.gup'], ran);
    this.pathUnpins = [...sourcesOf(['unpin.vfio', 'unpin.iommufd'], ran)].some((p) => ran.has(p));
  }

  /** What the recording host read of a process (VM name, cgroup), where it did. */
  factsOf(pid: number): ProcessFacts | undefined {
    return this.opts.processFacts?.(pid);
  }

  /** The logical probes that were attached. */
  get attached(): ReadonlySet<string> {
    return this.opts.attached;
  }

  /** Events a probe delivered (0 for one that never fired). */
  eventsOf(probe: string): number {
    return this.probes.get(probe)?.events ?? 0;
  }

  /** The probe's entry: calls come in runs of one probe. */
  private statsOf(probe: string): ProbeStats {
    if (probe === this.lastProbe) return this.lastStats;
    let found = this.probes.get(probe);
    if (!found) this.probes.set(probe, (found = { events: 0, hist: undefined, counts: roleOf(probe)?.counts }));
    this.lastProbe = probe;
    return (this.lastStats = found);
  }

  private histOf(st: ProbeStats, probe: string): Histogram {
    if (!st.hist) this.latency.set(probe, (st.hist = new Histogram()));
    return st.hist;
  }

  /** One event: a call that counts as Calls does (callsOf), or one of those that only come one by one. */
  add(e: RawEvent): void {
    const c = callsOf(e, this.one, false);
    if (c) return this.addCalls(c);
    this.total++;
    if (e.ts_ns > this.lastTs) this.lastTs = e.ts_ns;
    const st = this.statsOf(e.probe);
    st.events++;
    if ('lat_ns' in e && e.lat_ns > 0) this.histOf(st, e.probe).add(e.lat_ns);
    // Every kind of the object, or tsc fails here: a kind added to events.h is handled or said to count nothing.
    switch (e.kind) {
      case 'attach':
        this.ioFaults.attached(e);
        this.devices.attach(e);
        return this.perDevice.attach(e);
      case 'group_ref': return this.onGroupRef(e);
      case 'gup': return this.onGupError(e);
      case 'pin': return this.onUnpin(e, st.counts);
      case 'dirty': return this.onDirty(e);
      case 'iommu_tp': return this.onTracepoint(e);
      case 'map_request': return this.mapFailures.add(e);
      case 'fault_log': return this.ioFaults.add(e);
      // Calls, all of them (callsOf): here only to tell tsc so.
      case 'dma': case 'iotlb': case 'selftest': return;
      default: return unhandled(e);
    }
  }

  /**
   * Calls of one probe and key: a kernel sum, a replay's sum or one event's call.
   * Counted with the same tables, gates and bounds whatever their number; a record
   * of calls 0 carries latency buckets only (the kernel's it_hist).
   */
  addCalls(c: Calls): void {
    const st = this.statsOf(c.probe);
    if (c.calls > 0) {
      this.total += c.calls;
      if (c.last_ns > this.lastTs) this.lastTs = c.last_ns;
      st.events += c.calls;
    }
    if (hasLatency(c)) feedHistogram(this.histOf(st, c.probe), c);
    this.perDevice.addCalls(c);
    switch (st.counts) {
      case 'map': return this.dmaCalls(c, false);
      case 'unmap': return this.dmaCalls(c, true);
      case 'gup': return this.gupCalls(c);
      case 'pin.vfio': return this.pinCalls(c, 'vfio');
      case 'pin.iommufd': return this.pinCalls(c, 'iommufd');
      case 'unpin.gup': return this.gupUnpinCalls(c);
      case 'iotlb.sync':
      case 'iotlb.flush': return this.iotlb.addCalls(c);
    }
  }

  private dmaCalls(c: Calls, unmap: boolean): void {
    if (c.calls === 0) return;
    if (unmap) {
      this.dma.unmap_calls += c.calls;
      this.dma.unmap_bytes += c.amount;
    } else {
      this.dma.map_calls += c.calls;
      this.dma.map_bytes += c.amount;
    }
    // One size class per key, for the device's map_sizes and the process's huge share.
    const klass = unmap ? 0 : kernelSizeClass(c.size_class);
    const row = this.devices.dmaCalls(c.domain, unmap, c.calls, c.amount, klass);
    // A kernel driver's DMA-API maps run in whatever context was current (an
    // interrupt, a worker): they belong to no process.
    if (row.path === 'kernel') return;
    if (unmap) this.processes.unmap(c.pid, c.comm, c.amount, c.calls);
    else this.processes.map(c.pid, c.comm, c.amount, c.first_ns, c.last_ns, c.calls, klass);
  }

  private gupRow(pid: number, comm: string): GupCounts & { pid: number; comm: string } {
    let p = this.gupByPid.get(pid);
    if (!p) {
      const key = this.gupByPid.size < MAX_PROCESS_ROWS ? pid : -1;
      p = this.gupByPid.get(key) ?? { pid: key, comm: key < 0 ? '(others)' : comm, ...gupCounts() };
      this.gupByPid.set(key, p);
    }
    return p;
  }

  private gupCalls(c: Calls): void {
    if (c.calls === 0 || !this.gupFrom.has(c.probe)) return;
    for (const g of [this.gup, this.gupRow(c.pid, c.comm)]) {
      g.calls += c.calls;
      g.pages_requested += c.asked;
      g.pages_pinned += c.amount;
      g.partial += c.partial;
      g.fast_pages += c.fast;
      g.slow_pages += c.amount - c.fast;
    }
  }

  /** A failed GUP call (successes are Calls). */
  private onGupError(e: GupEvent): void {
    if (!this.gupFrom.has(e.probe)) return;
    const name = errnoName(e.ret);
    this.gupErrors.set(name, (this.gupErrors.get(name) ?? 0) + 1);
    for (const g of [this.gup, this.gupRow(e.pid, e.comm)]) {
      g.calls++;
      g.pages_requested += e.nr_pages;
      g.errors++;
    }
  }

  private pinCalls(c: Calls, path: 'vfio' | 'iommufd'): void {
    if (!this.pinFrom.has(c.probe) || c.amount <= 0) return;
    if (path === 'vfio') this.pins.vfio_pages += c.amount;
    else this.pins.iommufd_pages += c.amount;
    this.pinLedgerRow(c.pid, c.comm, path).pinned += c.amount;
    this.processes.pin(c.pid, c.comm, c.amount, true, c.calls);
  }

  /** GUP unpins the kernel summed: those outside any VFIO unpin (the nested ones come as events). */
  private gupUnpinCalls(c: Calls): void {
    if (!this.pinFrom.has(c.probe) || c.amount <= 0) return;
    this.pins.gup_unpinned_pages += c.amount;
    this.pins.unpinned_pages += c.amount;
  }

  private pinLedgerRow(pid: number, comm: string, path: string): { pinned: number; unpinned: number } {
    const key = `${pid}:${path}`;
    let l = this.pinLedger.get(key);
    if (!l) this.pinLedger.set(key, (l = { pid, comm, path, pinned: 0, unpinned: 0 }));
    return l;
  }

  /** Events per probe, for rates. */
  get perProbe(): Map<string, number> {
    return new Map([...this.probes].map(([probe, s]) => [probe, s.events]));
  }

  private onGroupRef(e: GroupRefEvent): void {
    if (e.group === 0n) return; // iommu_group_get() found no group: nothing taken
    if (e.probe === 'iommu.group_put') {
      this.ledger.put(e.group, e.group_id, e.tid);
      return;
    }
    const frames = e.stack.slice(0, e.nr_frames).filter((a) => a !== 0n);
    this.ledger.get(
      e.group,
      e.group_id,
      { tsNs: e.ts_ns, pid: e.pid, tid: e.tid, comm: e.comm, stack: frames },
      e.dev_name || undefined,
    );
    if (e.dev_name) this.devices.row(e.dev_name, e.group_id);
  }

  /** Unpins (always events), and pins that pinned nothing (counted per probe only). */
  private onUnpin(e: PinEvent, q: Quantity | undefined): void {
    if (!this.pinFrom.has(e.probe) || !isUnpin(q)) return;
    // VFIO's unpin returns the pages whose pin it dropped, leaving out reserved ones
    // (the zero page behind ROM ranges), which its pin had counted: the ledger
    // releases every page of the range (nr_pages), so nothing looks held forever.
    this.perDevice.unpin(e);
    const pages = q === 'unpin.vfio' ? e.nr_pages : e.pinned;
    if (pages <= 0) return;
    if (q === 'unpin.gup') {
      this.pins.gup_unpinned_pages += pages;
      this.pins.unpinned_pages += pages;
      if (this.pathUnpins) this.nesting.gup(e.tid, e.ts_ns, pages);
      return;
    }
    // GUP unpins inside this call were counted as GUP's: they are this path's.
    const nested = this.nesting.path(e.tid, e.ts_ns, e.lat_ns);
    this.pins.gup_unpinned_pages -= nested;
    this.pins.unpinned_pages += pages - nested;
    const path = q === 'unpin.vfio' ? 'vfio' : 'iommufd';
    if (path === 'vfio') this.pins.vfio_unpinned_pages += pages;
    else this.pins.iommufd_unpinned_pages += pages;
    this.pinLedgerRow(e.pid, e.comm, path).unpinned += pages;
    this.processes.pin(e.pid, e.comm, pages, false);
  }

  private onDirty(e: DirtyEvent): void {
    if (e.probe !== 'dirty.walk') return;
    this.dirty.walks++;
    if (e.ret < 0) this.dirty.errors++;
    else this.dirty.bytes_walked += e.length;
    this.dirtyCallbacks.set(e.fn, (this.dirtyCallbacks.get(e.fn) ?? 0) + 1);
  }

  private onTracepoint(e: IommuTpEvent): void {
    if (e.probe === 'iommu.tp_attach' && e.dev_name) this.devices.attachSeen(e.dev_name, e.group_id);
    else if (e.probe === 'iommu.tp_add' && e.dev_name) this.devices.row(e.dev_name, e.group_id, e.driver);
    else if (e.probe === 'iommu.io_page_fault') {
      this.ioFaults.add(e);
      if (this.faults.length < MAX_FAULTS) this.faults.push({ device: e.dev_name, iova: '0x' + e.iova.toString(16), flags: e.flags, ts_ns: e.ts_ns });
    }
  }

  private callbacks(): Record<string, number> {
    // A Map, not an object: a symbol from a capture may be named __proto__ or constructor.
    const out = new Map<string, number>();
    for (const [fn, n] of this.dirtyCallbacks) {
      const name = fn ? this.opts.symbolize(fn).replace(/\+0x[0-9a-f]+/, '') : 'unknown';
      out.set(name, (out.get(name) ?? 0) + n);
    }
    return Object.fromEntries(out);
  }

  /** Per group, how many outstanding references are held and leaked at nowNs (no listing: cheap to ask often). */
  groupCounts(nowNs: number): Map<number, { held: number; leaked: number }> {
    const out = new Map<number, { held: number; leaked: number }>();
    for (const g of this.ledger.groups.values()) {
      const c = this.ledger.counts(g, nowNs, this.opts.leakAgeNs, this.opts.symbolize);
      const sum = out.get(g.groupId) ?? { held: 0, leaked: 0 };
      out.set(g.groupId, { held: sum.held + c.held, leaked: sum.leaked + c.leaked });
    }
    return out;
  }

  /**
   * The answers so far; `nowNs` dates outstanding references (their age). With
   * refs false the groups' held and leaked lists are left empty (see groupCounts);
   * with maxListed, each lists at most that many (the oldest), which a screen
   * redrawn every second can afford whatever the ledger holds.
   */
  summary(nowNs: number, { refs = true, maxListed = Infinity } = {}): Pick<Report, 'latency' | 'latency_histograms' | 'dma' | 'devices' | 'map_sizes' | 'iotlb' | 'pins' | 'pin_ledger' | 'gup' | 'gup_by_process' | 'processes' | 'map_failures' | 'dirty' | 'groups' | 'overflow' | 'page_faults' | 'faults'> {
    const groups = [...this.ledger.groups.values()].map((g) => {
      const { held, leaked } = refs ? this.ledger.classify(g, nowNs, this.opts.leakAgeNs, this.opts.symbolize, maxListed) : { held: [], leaked: [] };
      const known = this.devices.groupDevices.get(g.groupId) ?? new Set<string>();
      return {
        group: g.groupId,
        devices: [...new Set([...g.devices, ...known])].sort(),
        gets: g.gets,
        puts: g.puts,
        outstanding: g.gets - g.puts,
        held,
        leaked,
      };
    });
    return {
      latency: Object.fromEntries([...this.latency].map(([k, h]) => [k, h.percentiles()])),
      latency_histograms: Object.fromEntries(
        [...this.latency].map(([k, h]) => [k, h.log2().map((b) => ({ low_ns: b.low, high_ns: b.high, count: b.count }))]),
      ),
      dma: { ...this.dma },
      devices: this.devices.list(),
      map_sizes: this.devices.mapSizes(),
      iotlb: this.iotlb.list(),
      pins: { ...this.pins },
      pin_ledger: [...this.pinLedger.values()].map((l) => ({ ...l, outstanding: l.pinned - l.unpinned })),
      gup: { ...this.gup, errors_by_errno: Object.fromEntries(this.gupErrors) },
      gup_by_process: [...this.gupByPid.values()].map((p) => ({ ...p })),
      processes: this.processes.list(this.opts.processFacts),
      map_failures: this.mapFailures.list(this.opts.processFacts),
      dirty: { ...this.dirty, by_callback: this.callbacks() },
      groups: groups.sort((a, b) => a.group - b.group),
      overflow: { group_refs: this.ledger.overflow, stacks: this.ledger.stackOverflow, groups: this.ledger.groupOverflow, processes: this.processes.overflow, map_failures: this.mapFailures.overflow, process_facts: this.opts.processFactsOverflow?.() ?? 0 },
      page_faults: [...this.faults],
      faults: this.ioFaults.list(this.opts.processFacts),
    };
  }
}
