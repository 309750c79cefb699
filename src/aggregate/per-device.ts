import { AttachEvent, DmaEvent, PinEvent, RawEvent } from '../events/types';
import type { AggregateDelta, LatencyDelta } from './deltas';
import { DeviceRow, DeviceTable } from './devices';
import { Histogram } from './loglinear';
import { roleOf, sourcesOf } from './truth';

/** The key of a row of DeviceTable.list(): rows of unknown domains carry their domain. */
export function rowKey(r: DeviceRow): string {
  return r.domain ? `unknown:${r.domain.slice(2)}` : r.device;
}

/**
 * What the dashboard shows per device beyond DeviceTable: map latency, and pages
 * pinned and not yet unpinned. Pin events carry no device, so pins are credited
 * to the device the pinning process last attached (VFIO and iommufd users attach,
 * then map and pin from the same process); pins of other processes are counted
 * under `unattributedPins`. Feed it every event after the Aggregator has seen it.
 */
export class DeviceDetail {
  readonly mapLatency = new Map<string, Histogram>();
  readonly pinned = new Map<string, number>();
  unattributedPins = 0;
  private readonly byPid = new Map<number, string>();
  /** The same pin and unpin probes as the report's (truth.ts): the panel and the report agree. */
  private readonly pins: Set<string>;
  private readonly unpins: Set<string>;

  constructor(
    private readonly devices: DeviceTable,
    attached: ReadonlySet<string>,
  ) {
    this.pins = sourcesOf(['pin.vfio', 'pin.iommufd'], attached);
    this.unpins = sourcesOf(['unpin.vfio', 'unpin.iommufd'], attached);
  }

  add(e: RawEvent): void {
    if (e.kind === 'dma') this.onDma(e);
    else if (e.kind === 'attach') this.onAttach(e);
    else if (e.kind === 'pin') this.onPin(e);
  }

  /** Kernel-summed calls (aggregated mode): map latency sums and pins, as their events would add. */
  addDelta(d: AggregateDelta): void {
    const q = roleOf(d.probe)?.counts;
    if (q === 'map' && d.lat_sum > 0) this.mapHist(d.domain).addSumMax(d.lat_sum, d.lat_max);
    else if (this.pins.has(d.probe) && d.amount > 0) this.credit(d.pid, d.amount);
  }

  /** Kernel latency buckets (aggregated mode). */
  addLatency(l: LatencyDelta): void {
    if (roleOf(l.probe)?.counts === 'map' && l.domain !== 0n) this.mapHist(l.domain).addCounts(l.bucket, l.count);
  }

  private mapHist(domain: bigint): Histogram {
    const key = this.devices.keyFor(domain);
    let h = this.mapLatency.get(key);
    if (!h) this.mapLatency.set(key, (h = new Histogram()));
    return h;
  }

  /** The last domain mapped into and its histogram: maps come in long runs into one domain, so keyFor() runs once a run. */
  private lastDomain = -1n;
  private lastHist: Histogram | undefined;

  private onDma(e: DmaEvent): void {
    if (e.probe === 'iommu.unmap' || !(e.lat_ns > 0)) return;
    let h = e.domain === this.lastDomain ? this.lastHist : undefined;
    if (!h) {
      h = this.mapHist(e.domain);
      this.lastDomain = e.domain;
      this.lastHist = h;
    }
    h.add(e.lat_ns);
  }

  private onAttach(e: AttachEvent): void {
    this.lastHist = undefined; // an attach may give the domain its device
    const detach = roleOf(e.probe)?.counts === 'detach';
    if (e.ret !== 0 || detach) return;
    const dev = e.dev_name || [...(this.devices.groupDevices.get(e.group_id) ?? [])][0];
    if (dev) this.byPid.set(e.pid, dev);
  }

  private onPin(e: PinEvent): void {
    const sign = this.pins.has(e.probe) ? 1 : this.unpins.has(e.probe) ? -1 : 0;
    if (sign && e.pinned > 0) this.credit(e.pid, sign * e.pinned);
  }

  private credit(pid: number, pages: number): void {
    const dev = this.byPid.get(pid);
    if (!dev) this.unattributedPins += pages;
    else this.pinned.set(dev, (this.pinned.get(dev) ?? 0) + pages);
  }
}
