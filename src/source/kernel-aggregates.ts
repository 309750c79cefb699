import type { AggregateDelta, LatencyDelta } from '../aggregate/deltas';
import { AggEntry, MapSource, readAggregates, readHistograms } from '../events/maps';
import { PROBES, ProbeName } from '../generated/bpf';

const NAMES = new Map<number, ProbeName>(Object.entries(PROBES).map(([name, id]) => [id, name as ProbeName]));

/** The sums of one key at the last read. */
type Seen = Pick<AggEntry, 'calls' | 'amount' | 'asked' | 'fast' | 'partial' | 'lat_sum'>;

/** A key's bytes as a Map key. */
function keyOf(e: AggEntry): string {
  return `${e.probe}:${e.size_class}:${e.group_id}:${e.tgid}:${e.domain}`;
}

/**
 * Reads what the kernel summed in aggregated mode (it_agg and it_hist, per CPU)
 * and hands out what is new since the last read. The maps only grow: each read
 * subtracts the previous one, so nothing is counted twice and no update racing
 * a delete is lost. Entries are never deleted while the session runs; a full
 * it_agg sends further calls to the ring instead (counter agg_overflow).
 */
export class KernelAggregates {
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, number>();

  /** `clockBaseNs`: CLOCK_MONOTONIC at the source's start (event times count from it). */
  constructor(
    private readonly maps: MapSource,
    private readonly clockBaseNs: bigint,
  ) {}

  /** What the kernel summed since the last call. */
  read(): { deltas: AggregateDelta[]; latency: LatencyDelta[] } {
    const deltas: AggregateDelta[] = [];
    for (const e of readAggregates(this.maps)) {
      const probe = NAMES.get(e.probe);
      if (!probe) continue;
      const k = keyOf(e);
      const was = this.seen.get(k);
      if (was && was.calls === e.calls) continue;
      this.seen.set(k, { calls: e.calls, amount: e.amount, asked: e.asked, fast: e.fast, partial: e.partial, lat_sum: e.lat_sum });
      deltas.push({
        probe,
        pid: e.tgid,
        tid: e.tid,
        comm: e.comm,
        domain: e.domain,
        group_id: e.group_id,
        size_class: e.size_class,
        calls: e.calls - (was?.calls ?? 0),
        amount: e.amount - (was?.amount ?? 0),
        asked: e.asked - (was?.asked ?? 0),
        fast: e.fast - (was?.fast ?? 0),
        partial: e.partial - (was?.partial ?? 0),
        lat_sum: e.lat_sum - (was?.lat_sum ?? 0),
        lat_max: e.lat_max,
        first_ns: Number(e.first_ns - this.clockBaseNs),
        last_ns: Number(e.last_ns - this.clockBaseNs),
      });
    }
    const latency: LatencyDelta[] = [];
    for (const h of readHistograms(this.maps)) {
      const probe = NAMES.get(h.probe);
      if (!probe) continue;
      const k = `${h.probe}:${h.bucket}:${h.group_id}:${h.domain}`;
      const was = this.buckets.get(k) ?? 0;
      if (h.count === was) continue;
      this.buckets.set(k, h.count);
      latency.push({ probe, domain: h.domain, group_id: h.group_id, bucket: h.bucket, count: h.count - was });
    }
    return { deltas, latency };
  }
}
