import { AttachEvent, DmaEvent, IotlbEvent, RawEvent } from '../events/types';
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
    if (e.kind === 'dma' || e.kind === 'iotlb') {
      const key = this.devices.keyFor((e as DmaEvent | IotlbEvent).domain);
      device = key.startsWith('unknown:') ? UNKNOWN_DEVICE : key;
    } else if (e.kind === 'attach') {
      device = (e as AttachEvent).dev_name || undefined;
    }
    if (device === undefined) return;
    let perDevice = this.byProbe.get(e.probe);
    if (!perDevice) this.byProbe.set(e.probe, (perDevice = new Map()));
    let h = perDevice.get(device);
    if (!h) {
      if (this.series >= this.maxSeries) {
        this.overflow++;
        return;
      }
      this.series++;
      perDevice.set(device, (h = new Histogram()));
    }
    h.add(e.lat_ns);
  }
}
