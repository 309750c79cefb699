import type { AttachEvent, PinEvent } from '../events/types';
import { Calls, feedHistogram, latencyCalls } from './calls';
import { DeviceRow, DeviceTable } from './devices';
import { Histogram } from './loglinear';
import { probesFor, roleOf, sourcesOf } from './truth';

/** DMA into a domain no attach was seen for: one "unknown" device, never an address. */
export const UNKNOWN_DEVICE = 'unknown';

/** The key of a row of DeviceTable.list(): rows of unknown domains carry their domain. */
export function rowKey(r: DeviceRow): string {
  return r.domain ? `unknown:${r.domain.slice(2)}` : r.device;
}

const MAP_PROBES = probesFor('map');

/**
 * What is kept per device beyond DeviceTable's counts, for the dashboard, the
 * metrics and the report alike: latency histograms per (probe, device) of the
 * calls that name their device (DMA and IOTLB through their domain, per-device
 * attaches), and pages pinned and not yet unpinned. Pins carry no device, so they
 * are credited to the device the pinning process last attached (VFIO and iommufd
 * users attach, then map and pin from the same process); pins of other processes
 * are counted under `unattributedPins`. Latency is bounded: past `maxSeries`
 * pairs a new pair's calls are counted in `overflow`, not kept.
 */
export class PerDevice {
  /** probe -> row key (device, or unknown:<domain>) -> histogram */
  readonly latency = new Map<string, Map<string, Histogram>>();
  overflow = 0;
  readonly pinned = new Map<string, number>();
  unattributedPins = 0;
  private series = 0;
  private readonly byPid = new Map<number, string>();
  /** The same pin and unpin probes as the report's (truth.ts): the panel and the report agree. */
  private pins = new Set<string>();
  private unpins = new Set<string>();
  /** The last (probe, domain) and its histogram: calls come in long runs of one probe into one domain. */
  private lastProbe = '';
  private lastDomain = -1n;
  private lastHist: Histogram | undefined;

  constructor(
    private readonly devices: DeviceTable,
    attached: ReadonlySet<string>,
    private readonly maxSeries = 1024,
  ) {
    this.probesAttached(attached);
  }

  /** Which probes' pins and unpins count: the best-ranked of those attached (Aggregator.probesAttached). */
  probesAttached(attached: ReadonlySet<string>): void {
    this.pins = sourcesOf(['pin.vfio', 'pin.iommufd'], attached);
    this.unpins = sourcesOf(['unpin.vfio', 'unpin.iommufd'], attached);
  }

  /** Calls into a domain (their latency on its device), or pins (credited to the pinning process's device). */
  addCalls(c: Calls): void {
    if (c.domain !== 0n) {
      if (c.lat_sum <= 0 && !c.buckets?.length) return;
      let h = c.domain === this.lastDomain && c.probe === this.lastProbe ? this.lastHist : undefined;
      if (!h) {
        h = this.histogram(c.probe, this.devices.keyFor(c.domain), latencyCalls(c));
        if (!h) return;
        this.lastProbe = c.probe;
        this.lastDomain = c.domain;
        this.lastHist = h;
      }
      feedHistogram(h, c);
    } else if (c.amount > 0 && this.pins.has(c.probe)) this.credit(c.pid, c.amount);
  }

  /** An attach: its latency on the device it names; a success gives the process its device. */
  attach(e: AttachEvent): void {
    this.lastHist = undefined; // an attach may give a domain its device
    if (e.dev_name && e.lat_ns > 0) this.histogram(e.probe, e.dev_name, 1)?.add(e.lat_ns);
    if (e.ret !== 0 || roleOf(e.probe)?.counts === 'detach') return;
    const dev = e.dev_name || [...(this.devices.groupDevices.get(e.group_id) ?? [])][0];
    if (dev) this.byPid.set(e.pid, dev);
  }

  /** A VFIO or iommufd unpin (they come one by one). */
  unpin(e: PinEvent): void {
    if (this.unpins.has(e.probe) && e.pinned > 0) this.credit(e.pid, -e.pinned);
  }

  private credit(pid: number, pages: number): void {
    const dev = this.byPid.get(pid);
    if (!dev) this.unattributedPins += pages;
    else this.pinned.set(dev, (this.pinned.get(dev) ?? 0) + pages);
  }

  /** The pair's histogram; undefined (and its `calls` counted in overflow) past maxSeries. */
  private histogram(probe: string, key: string, calls: number): Histogram | undefined {
    let perDevice = this.latency.get(probe);
    if (!perDevice) this.latency.set(probe, (perDevice = new Map()));
    let h = perDevice.get(key);
    if (!h) {
      if (this.series >= this.maxSeries) {
        this.overflow += calls;
        return undefined;
      }
      this.series++;
      perDevice.set(key, (h = new Histogram()));
    }
    return h;
  }

  /** Map latency per row key, every map probe together (the dashboard's). */
  get mapLatency(): Map<string, Histogram> {
    const out = new Map<string, Histogram>();
    for (const probe of MAP_PROBES) for (const [key, h] of this.latency.get(probe) ?? []) merged(out, key, h);
    return out;
  }

  /** probe -> device -> histogram, unknown domains under one "unknown" (the metrics'). */
  get byProbe(): Map<string, Map<string, Histogram>> {
    const out = new Map<string, Map<string, Histogram>>();
    for (const [probe, m] of this.latency) {
      const devices = new Map<string, Histogram>();
      for (const [key, h] of m) merged(devices, key.startsWith('unknown:') ? UNKNOWN_DEVICE : key, h);
      out.set(probe, devices);
    }
    return out;
  }
}

/** Adds h under key: itself when alone there, else a merged copy (the kept ones stay as they are). */
function merged(into: Map<string, Histogram>, key: string, h: Histogram): void {
  const had = into.get(key);
  if (!had) into.set(key, h);
  else {
    const sum = new Histogram();
    sum.merge(had);
    sum.merge(h);
    into.set(key, sum);
  }
}

