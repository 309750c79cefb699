import { Calls, feedHistogram, hasLatency } from './calls';
import { DeviceTable } from './devices';
import { Histogram, Percentiles } from './loglinear';

/**
 * IOTLB invalidations per device (report `iotlb`, CLI.md): range syncs after
 * unmaps (strict mode, VFIO's unmanaged domains) with the bytes they covered, and
 * whole-domain flushes (the DMA API's flush queue in lazy mode), each with its
 * latency. A domain is placed on its device as DMA is (DeviceTable).
 */
export interface IotlbRow {
  sync_calls: number;
  /** IOVA bytes the syncs invalidated: in strict mode every unmapped byte, once. */
  sync_bytes: number;
  sync_latency: Percentiles | null;
  flush_calls: number;
  flush_latency: Percentiles | null;
}

interface Counts {
  syncCalls: number;
  syncBytes: number;
  sync: Histogram;
  flushCalls: number;
  flush: Histogram;
}

const emptyCounts = (): Counts => ({ syncCalls: 0, syncBytes: 0, sync: new Histogram(), flushCalls: 0, flush: new Histogram() });

export class IotlbTable {
  /** Row key (as DeviceTable's) -> counts; a few devices, bounded by the device table. */
  private readonly rows = new Map<string, Counts>();

  constructor(private readonly devices: DeviceTable) {}

  private counts(domain: bigint): Counts {
    const key = this.devices.keyFor(domain);
    let c = this.rows.get(key);
    if (!c) this.rows.set(key, (c = emptyCounts()));
    return c;
  }

  /** Invalidations of one probe into one domain (one call, or a sum): calls, bytes, latency. */
  addCalls(c: Calls): void {
    const n = this.counts(c.domain);
    const sync = c.probe === 'iommu.iotlb_sync';
    if (sync) {
      n.syncCalls += c.calls;
      n.syncBytes += c.amount;
    } else n.flushCalls += c.calls;
    if (hasLatency(c)) feedHistogram(sync ? n.sync : n.flush, c);
  }

  /** Per device, domains no attach placed summed under "unknown". */
  list(): Record<string, IotlbRow> {
    const merged = new Map<string, Counts>();
    for (const [key, c] of this.rows) {
      const device = key.startsWith('unknown:') ? 'unknown' : key;
      let m = merged.get(device);
      if (!m) merged.set(device, (m = emptyCounts()));
      m.syncCalls += c.syncCalls;
      m.syncBytes += c.syncBytes;
      m.flushCalls += c.flushCalls;
      m.sync.merge(c.sync);
      m.flush.merge(c.flush);
    }
    const pct = (h: Histogram) => (h.count ? h.percentiles() : null);
    return Object.fromEntries(
      [...merged]
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([device, c]) => [device, { sync_calls: c.syncCalls, sync_bytes: c.syncBytes, sync_latency: pct(c.sync), flush_calls: c.flushCalls, flush_latency: pct(c.flush) }]),
    );
  }
}
