/**
 * The HTML report's timeline, read from the capture's events: per device and per
 * process, bytes mapped and unmapped and pages pinned and unpinned per time bin
 * (downsample.ts keeps the sums exact), the per-device map latency, and the moments
 * worth marking (attaches, detaches, refused maps, IO page faults).
 */
import { readCaptureFile } from '../../capture/reader';
import type { CaptureHeader } from '../../capture/types';
import type { Report } from '../../aggregate/report';
import type { RawEvent } from '../../events/types';
import type { BuildOptions } from '../build';
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
const MAP_PROBES = new Set(['iommu.map', 'iommu.map_sg', 'iommu.map_atomic', 'iommu.map_sg_atomic']);

interface Sums {
  label: string;
  map: Float64Array;
  unmap: Float64Array;
  pin: Float64Array;
  unpin: Float64Array;
}

/** Which attach probes to mark: the attach API when watched (one event per attach), else the per-device core, else the tracepoint. */
function attachMarkers(h: CaptureHeader): Set<string> {
  const on = new Set(h.probes.filter((p) => p.status === 'attached' || p.status === 'detached').map((p) => p.name));
  if ([...ATTACH_API, ...DETACH_API].some((p) => on.has(p))) return new Set([...ATTACH_API, ...DETACH_API]);
  if (on.has('iommu.attach_dev')) return new Set(['iommu.attach_dev']);
  return new Set(['iommu.tp_attach']);
}

/** Pin and unpin probes as the report counts them: iommufd at its iopt path when that is watched. */
function pinProbes(h: CaptureHeader): { pin: Set<string>; unpin: Set<string> } {
  const on = new Set(h.probes.filter((p) => p.status === 'attached' || p.status === 'detached').map((p) => p.name));
  return {
    pin: new Set(['vfio.pin', on.has('iommufd.iopt_pin') ? 'iommufd.iopt_pin' : 'iommufd.pin']),
    unpin: new Set(['vfio.unpin', on.has('iommufd.iopt_unpin') ? 'iommufd.iopt_unpin' : 'iommufd.unpin']),
  };
}

function errnoText(ret: number): string {
  return ret < 0 ? `errno ${-ret}` : `ret ${ret}`;
}

/** The kernel's default-domain types (DMA API, identity) and blocked: not a device's own domain. */
function defaultDomain(type: number): boolean {
  return type === 0 || (type & (2 | 4)) !== 0;
}

/**
 * Reads the capture's events once and bins them. `report` (of the same capture)
 * names devices by group, paths and VMs, so the timeline uses the report's words.
 */
export function readTimeline(path: string, report: Report, options: BuildOptions = {}, maxBins = 2048): TimelineData {
  const bins = new Bins(maxBins);
  const devices = new Map<string, Sums>();
  const processes = new Map<string, Sums>();
  const latency = new Map<string, number[]>();
  const marks: Mark[] = [];
  const counts: Record<MarkKind, number> = { attach: 0, detach: 0, map_failure: 0, fault: 0 };
  const domains = new Map<bigint, string>();
  const byGroup = new Map<number, string>();
  const kernelPath = new Set(report.devices.filter((d) => d.path === 'kernel').map((d) => d.device));
  for (const d of report.devices) if (d.device !== 'unknown' && d.group >= 0 && !byGroup.has(d.group)) byGroup.set(d.group, d.device);
  const vmOf = new Map(report.processes.map((p) => [p.pid, p.vm]));
  let marked = new Set<string>();
  let from = -Infinity;
  let to = Infinity;
  let pins = { pin: new Set<string>(), unpin: new Set<string>() };

  const sums = (table: Map<string, Sums>, key: string, label: () => string): Sums => {
    let s = table.get(key);
    if (!s) {
      if (table.size >= MAX_SERIES && key !== '(others)') return sums(table, '(others)', () => '(others)');
      s = { label: label(), map: bins.addSeries(), unmap: bins.addSeries(), pin: bins.addSeries(), unpin: bins.addSeries() };
      table.set(key, s);
    }
    return s;
  };
  const processSums = (e: RawEvent): Sums =>
    sums(processes, String(e.pid), () => {
      const vm = vmOf.get(e.pid);
      return `${vm ? `${vm}: ` : ''}${e.comm} (${e.pid})`;
    });
  const mark = (ts: number, kind: MarkKind, text: string): void => {
    counts[kind]++;
    if (marks.length < MAX_MARKS) marks.push({ ts_ns: ts, kind, text });
  };
  const deviceOf = (domain: bigint, group: number): string => domains.get(domain) ?? byGroup.get(group) ?? 'unknown';

  const onEvent = (e: RawEvent): void => {
    switch (e.kind) {
      case 'attach': {
        const detach = DETACH_API.includes(e.probe);
        const device = e.dev_name || byGroup.get(e.group_id) || `group ${e.group_id}`;
        const perDevice = e.probe === 'iommu.attach_dev';
        if (e.ret === 0 && e.domain !== 0n && !detach && !domains.has(e.domain) && !(perDevice && defaultDomain(e.domain_type))) {
          domains.set(e.domain, device);
        }
        if (!marked.has(e.probe)) return;
        const kind: MarkKind = detach || (perDevice && defaultDomain(e.domain_type)) ? 'detach' : 'attach';
        mark(e.ts_ns, kind, `${kind} ${device}${e.ret ? ` failed (${errnoText(e.ret)})` : ''} by ${e.comm} (${e.pid})`);
        return;
      }
      case 'dma': {
        const unmap = e.probe === 'iommu.unmap';
        if (!unmap && !MAP_PROBES.has(e.probe)) return;
        const i = bins.index(e.ts_ns);
        const device = deviceOf(e.domain, e.group_id);
        const d = sums(devices, device, () => device);
        (unmap ? d.unmap : d.map)[i] += e.done;
        if (!unmap && e.lat_ns > 0) {
          let h = latency.get(device);
          if (!h) latency.set(device, (h = new Array<number>(64).fill(0)));
          h[Math.min(63, Math.floor(Math.log2(e.lat_ns)))]++;
        }
        // A kernel driver's DMA-API maps run in whatever context was current: no process's.
        if (kernelPath.has(device)) return;
        const p = processSums(e);
        (unmap ? p.unmap : p.map)[i] += e.done;
        return;
      }
      case 'pin': {
        const pin = pins.pin.has(e.probe);
        if (!pin && !pins.unpin.has(e.probe)) return;
        // As the report: VFIO's unpin releases its whole range.
        const pages = e.probe === 'vfio.unpin' ? e.nr_pages : e.pinned;
        if (pages <= 0) return;
        const p = processSums(e);
        (pin ? p.pin : p.unpin)[bins.index(e.ts_ns)] += pages;
        return;
      }
      case 'map_request':
        if (e.ret < 0) mark(e.ts_ns, 'map_failure', `${vmOf.get(e.pid) ?? e.comm} (${e.pid}): ${e.probe} of ${e.size} bytes refused, ${errnoText(e.ret)}`);
        return;
      case 'iommu_tp':
        if (e.probe === 'iommu.io_page_fault') mark(e.ts_ns, 'fault', `IO page fault on ${e.dev_name || 'a device'} at 0x${e.iova.toString(16)} (flags 0x${e.flags.toString(16)})`);
        return;
      default:
        return;
    }
  };

  readCaptureFile(path, {
    onHeader: (h) => {
      marked = attachMarkers(h);
      pins = pinProbes(h);
      // The report's window (build.ts), in the capture's own time.
      const base = BigInt(h.clockBaseNs || '0');
      if (options.sinceNs !== undefined) from = Number(options.sinceNs - base);
      if (options.untilNs !== undefined) to = Number(options.untilNs - base);
    },
    onEvent: (e) => {
      if (options.pid !== undefined && e.pid !== options.pid) return;
      if (e.ts_ns < from || e.ts_ns > to) return;
      onEvent(e);
    },
  });
  const out = (table: Map<string, Sums>): SeriesOut[] =>
    [...table]
      .map(([key, s]) => ({ key, label: s.label, map_bytes: used(bins, s.map), unmap_bytes: used(bins, s.unmap), pinned_pages: used(bins, s.pin), unpinned_pages: used(bins, s.unpin) }))
      .filter((s) => s.map_bytes.some((v) => v) || s.unmap_bytes.some((v) => v) || s.pinned_pages.some((v) => v) || s.unpinned_pages.some((v) => v));
  return {
    bin_ns: bins.width,
    devices: out(devices),
    processes: out(processes),
    marks,
    mark_counts: counts,
    device_map_latency: Object.fromEntries(latency),
  };
}
