/**
 * The HTML report's timeline, read from the capture's events: per device and per
 * process, bytes mapped and unmapped and pages pinned and unpinned per time bin
 * (downsample.ts keeps the sums exact), the per-device map latency, and the moments
 * worth marking (attaches, detaches, refused maps, IO page faults).
 */
import { attachSource, isDefaultDomainType } from '../../aggregate/devices';
import type { Aggregator } from '../../aggregate/engine';
import { parseFaultLine } from '../../aggregate/fault-lines';
import { bucketLow } from '../../aggregate/loglinear';
import type { Report } from '../../aggregate/report';
import { probesFor, sourcesOf } from '../../aggregate/truth';
import type { RawEvent } from '../../events/types';
import { buildReport, type BuildOptions } from '../build';
import { Bins, used } from './downsample';

export type MarkKind = 'attach' | 'detach' | 'map_failure' | 'fault';

export interface Mark {
  ts_ns: number;
  kind: MarkKind;
  text: string;
}

export interface SeriesOut {
  key: string;
  label: string;
  map_bytes: number[];
  unmap_bytes: number[];
  pinned_pages: number[];
  unpinned_pages: number[];
}

export interface TimelineData {
  bin_ns: number;
  devices: SeriesOut[];
  processes: SeriesOut[];
  marks: Mark[];
  /** Every mark of each kind, also those past the ones kept. */
  mark_counts: Record<MarkKind, number>;
  /** Per device, its map calls' latency in power-of-two buckets: bucket b holds [2^b, 2^(b+1)) ns. */
  device_map_latency: Record<string, number[]>;
}

/** Series kept apart per kind; the rest go into one "(others)". */
const MAX_SERIES = 48;
/** Marks kept for drawing (the counts stay exact). */
const MAX_MARKS = 4000;

const ATTACH_API = ['iommu.attach_device', 'iommu.attach_group', 'iommu.attach_handle', 'iommu.replace_group'];
const DETACH_API = ['iommu.detach_device', 'iommu.detach_group', 'iommu.detach_handle'];
const MAP_PROBES = new Set<string>(probesFor('map'));

interface Sums {
  label: string;
  map: Float64Array;
  unmap: Float64Array;
  pin: Float64Array;
  unpin: Float64Array;
}

/** Which attach probes to mark: those whose attaches the report counts (the attach API, else the per-device core, else the tracepoint). */
function attachMarkers(attached: ReadonlySet<string>): Set<string> {
  const source = attachSource(attached);
  if (source === 'api') return new Set([...ATTACH_API, ...DETACH_API]);
  return new Set([source === 'per-device' ? 'iommu.attach_dev' : 'iommu.tp_attach']);
}

function errnoText(ret: number): string {
  return ret < 0 ? `errno ${-ret}` : `ret ${ret}`;
}

/**
 * The timeline, fed each event of the report's own pass after its aggregator
 * (buildReport's observer): devices, kernel-driver paths and the pin probes are
 * the aggregator's, so the series sum to the report's figures by construction.
 */
export class Timeline {
  private readonly bins: Bins;
  private readonly devices = new Map<string, Sums>();
  private readonly processes = new Map<string, Sums & { pid: number; comm: string }>();
  /** The aggregator of the report's pass: its per-device map latency is the page's. */
  private agg?: Aggregator;
  private readonly marks: Mark[] = [];
  private readonly counts: Record<MarkKind, number> = { attach: 0, detach: 0, map_failure: 0, fault: 0 };
  private marked?: Set<string>;
  private pins?: { pin: Set<string>; unpin: Set<string> };
  /** The last domain, its device and whether a kernel driver holds it: DMA comes in runs into one domain; an attach may change them. */
  private lastDomain = -1n;
  private lastDevice = '';
  private lastKernel = false;

  constructor(maxBins = 2048) {
    this.bins = new Bins(maxBins);
  }

  private sums<T extends Sums>(table: Map<string, T>, key: string, extra: Omit<T, keyof Sums>): T {
    let s = table.get(key);
    if (!s) {
      if (table.size >= MAX_SERIES && key !== '(others)') return this.sums(table, '(others)', extra);
      s = { label: key, map: this.bins.addSeries(), unmap: this.bins.addSeries(), pin: this.bins.addSeries(), unpin: this.bins.addSeries(), ...extra } as T;
      table.set(key, s);
    }
    return s;
  }

  private processSums(e: RawEvent): Sums {
    return this.sums(this.processes, String(e.pid), { pid: e.pid, comm: e.comm });
  }

  private mark(ts: number, kind: MarkKind, text: string): void {
    this.counts[kind]++;
    if (this.marks.length < MAX_MARKS) this.marks.push({ ts_ns: ts, kind, text });
  }

  /** One event, after `agg` has counted it. */
  add(e: RawEvent, agg: Aggregator): void {
    this.agg = agg;
    this.marked ??= attachMarkers(agg.attached);
    this.pins ??= { pin: sourcesOf(['pin.vfio', 'pin.iommufd'], agg.attached), unpin: sourcesOf(['unpin.vfio', 'unpin.iommufd'], agg.attached) };
    switch (e.kind) {
      case 'attach': {
        this.lastDomain = -1n;
        if (!this.marked.has(e.probe)) return;
        const device = e.dev_name || [...(agg.devices.groupDevices.get(e.group_id) ?? [])][0] || `group ${e.group_id}`;
        const detach = DETACH_API.includes(e.probe) || (e.probe === 'iommu.attach_dev' && isDefaultDomainType(e.domain_type));
        const kind: MarkKind = detach ? 'detach' : 'attach';
        return this.mark(e.ts_ns, kind, `${kind} ${device}${e.ret ? ` failed (${errnoText(e.ret)})` : ''} by ${e.comm} (${e.pid})`);
      }
      case 'dma': {
        const unmap = e.probe === 'iommu.unmap';
        if (!unmap && !MAP_PROBES.has(e.probe)) return;
        const i = this.bins.index(e.ts_ns);
        if (e.domain !== this.lastDomain) {
          // The row the aggregator counted the call in: the report's device, "unknown" for unknown domains.
          const key = agg.devices.keyFor(e.domain);
          this.lastDomain = e.domain;
          this.lastDevice = key.startsWith('unknown:') ? 'unknown' : key;
          this.lastKernel = agg.devices.rows.get(key)?.path === 'kernel';
        }
        const device = this.lastDevice;
        const d = this.sums(this.devices, device, {});
        (unmap ? d.unmap : d.map)[i] += e.done;
        // A kernel driver's DMA-API maps run in whatever context was current: no process's.
        if (this.lastKernel) return;
        const p = this.processSums(e);
        (unmap ? p.unmap : p.map)[i] += e.done;
        return;
      }
      case 'pin': {
        const pin = this.pins.pin.has(e.probe);
        if (!pin && !this.pins.unpin.has(e.probe)) return;
        // As the report: VFIO's unpin releases its whole range.
        const pages = e.probe === 'vfio.unpin' ? e.nr_pages : e.pinned;
        if (pages <= 0) return;
        const p = this.processSums(e);
        (pin ? p.pin : p.unpin)[this.bins.index(e.ts_ns)] += pages;
        return;
      }
      case 'map_request':
        if (e.ret < 0) this.mark(e.ts_ns, 'map_failure', `${agg.factsOf(e.pid)?.vm ?? e.comm} (${e.pid}): ${e.probe} of ${e.size} bytes refused, ${errnoText(e.ret)}`);
        return;
      case 'iommu_tp':
        if (e.probe === 'iommu.io_page_fault') this.mark(e.ts_ns, 'fault', `IO page fault on ${e.dev_name || 'a device'} at 0x${e.iova.toString(16)} (flags 0x${e.flags.toString(16)})`);
        return;
      case 'fault_log': {
        // VT-d's faults, from its own log line (the report's faults[] reads the same).
        const f = parseFaultLine(e.text);
        if (f?.kind === 'fault') this.mark(e.ts_ns, 'fault', `IO page fault on ${f.device} at 0x${f.iova.toString(16)} (${f.write ? 'write' : 'read'}, reason ${f.reason})`);
        return;
      }
      default:
        return;
    }
  }

  /** The series and marks, processes named as the report names them (VM first). */
  result(report: Report): TimelineData {
    const vmOf = new Map(report.processes.map((p) => [p.pid, p.vm]));
    const out = (table: Map<string, Sums>): SeriesOut[] =>
      [...table]
        .map(([key, s]) => ({ key, label: s.label, map_bytes: used(this.bins, s.map), unmap_bytes: used(this.bins, s.unmap), pinned_pages: used(this.bins, s.pin), unpinned_pages: used(this.bins, s.unpin) }))
        .filter((s) => s.map_bytes.some((v) => v) || s.unmap_bytes.some((v) => v) || s.pinned_pages.some((v) => v) || s.unpinned_pages.some((v) => v));
    for (const p of this.processes.values()) {
      const vm = vmOf.get(p.pid);
      if (p.label !== '(others)') p.label = `${vm ? `${vm}: ` : ''}${p.comm} (${p.pid})`;
    }
    return {
      bin_ns: this.bins.width,
      devices: out(this.devices),
      processes: out(this.processes),
      marks: this.marks,
      mark_counts: this.counts,
      device_map_latency: foldedMapLatency(this.agg),
    };
  }
}

/** The aggregator's map latency per device folded into powers of two (a log-linear bucket lies within one): bucket b holds [2^b, 2^(b+1)) ns. */
function foldedMapLatency(agg: Aggregator | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [key, h] of agg?.perDevice.mapLatency ?? []) {
    const device = key.startsWith('unknown:') ? 'unknown' : key;
    const folded = (out[device] ??= new Array<number>(64).fill(0));
    for (const [b, n] of h.buckets()) folded[Math.max(0, Math.min(63, Math.floor(Math.log2(bucketLow(b)))))] += n;
  }
  return out;
}

/** The report and its timeline, from one pass over the capture. */
export function reportWithTimeline(path: string, options: BuildOptions = {}, maxBins = 2048): { report: Report; timeline: TimelineData } {
  const timeline = new Timeline(maxBins);
  const report = buildReport(path, options, (e, agg) => timeline.add(e, agg));
  return { report, timeline: timeline.result(report) };
}
