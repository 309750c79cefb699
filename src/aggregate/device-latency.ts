import { AttachEvent, DmaEvent, IotlbEvent, RawEvent } from '../events/types';
import type { AggregateDelta, LatencyDelta } from './deltas';
import { DeviceTable } from './devices';
import { Histogram } from './loglinear';

/** DMA into a domain no attach was seen for: one "unknown" device, never an address. */
export const UNKNOWN_DEVICE = 'unknown';

/**
 * Latency histograms per (probe, device) for the events that name their device:
 * DMA map/unmap and IOTLB invalidations (through the domain's device in DeviceTable) and per-device
 * attaches. Group-wide attaches name no single device and are left to the
 * per-probe histograms. Bounded: past `maxSeries` pairs a new pair is counted in
 * `overflow`, not kept. Feed it every event after the Aggregator has seen it.
 */
export class DeviceLatency {
  /** probe -> device -> histogram */
  readonly byProbe = new Map<string, Map<string, Histogram>>();
  overflow = 0;
  private series = 0;

  constructor(
    private readonly devices: DeviceTable,
    private readonly maxSeries = 1024,
  ) {}

  add(e: RawEvent): void {
    if (!('lat_ns' in e) || !(e.lat_ns > 0)) return;
    let device: string | undefined;
    if (e.kind === 'dma' || e.kind === 'iotlb') device = this.deviceOf((e as DmaEvent | IotlbEvent).domain);
    else if (e.kind === 'attach') device = (e as AttachEvent).dev_name || undefined;
    if (device !== undefined) this.histogram(e.probe, device, 1)?.add(e.lat_ns);
  }

  /** Kernel latency buckets (aggregated mode): DMA ones, by their domain's device. */
  addLatency(l: LatencyDelta): void {
    if (l.domain !== 0n) this.histogram(l.probe, this.deviceOf(l.domain), l.count)?.addCounts(l.bucket, l.count);
  }

  /** The exact latency sum and maximum of kernel-summed DMA calls (aggregated mode). */
  addDelta(d: AggregateDelta): void {
    if (d.domain !== 0n && d.lat_sum > 0) this.histogram(d.probe, this.deviceOf(d.domain), 0)?.addSumMax(d.lat_sum, d.lat_max);
  }

  private deviceOf(domain: bigint): string {
    const key = this.devices.keyFor(domain);
    return key.startsWith('unknown:') ? UNKNOWN_DEVICE : key;
  }

  /** The pair's histogram; undefined (and its `events` counted in overflow) past maxSeries. */
  private histogram(probe: string, device: string, events: number): Histogram | undefined {
    let perDevice = this.byProbe.get(probe);
    if (!perDevice) this.byProbe.set(probe, (perDevice = new Map()));
    let h = perDevice.get(device);
    if (!h) {
      if (this.series >= this.maxSeries) {
        this.overflow += events;
        return undefined;
      }
      this.series++;
      perDevice.set(device, (h = new Histogram()));
    }
    return h;
  }
}
