import type { ProbeName } from '../generated/bpf';

/**
 * What the kernel summed (it_agg) for one key since the last read: the calls that
 * did not go to the ring in aggregated mode (top and export). The aggregator turns
 * it into what those calls' events would have told it (Aggregator.addDelta).
 */
/** What it_agg sums per key (struct it_agg_val, its CPUs folded). */
export interface AggCounts {
  calls: number;
  /** Bytes done (DMA), pages pinned or unpinned (GUP, pins). */
  amount: number;
  /** Bytes (DMA) or pages (GUP) asked for. */
  asked: number;
  /** gup.fast: pages the lockless part pinned. */
  fast: number;
  /** GUP calls that pinned fewer pages than asked. */
  partial: number;
  /** Latency: the calls' sum (ns) and the largest ever seen for the key. */
  lat_sum: number;
  lat_max: number;
}

export interface AggregateDelta extends AggCounts {
  probe: ProbeName;
  /** The caller's tgid; 0 for DMA into a kernel driver's DMA-API domain. */
  pid: number;
  /** The thread and comm of the key's first call. */
  tid: number;
  comm: string;
  /** DMA: the domain and its group (-1 when unknown); 0n and -1 for others. */
  domain: bigint;
  group_id: number;
  /** 0 when nothing moved, else 1 + log2 of the amount of one call. */
  size_class: number;
  /** Event times (ns from the source's start) of the key's first and last call ever. */
  first_ns: number;
  last_ns: number;
}

/** New counts of one latency bucket (it_hist) since the last read. */
export interface LatencyDelta {
  probe: ProbeName;
  domain: bigint;
  group_id: number;
  /** Log-linear bucket (src/aggregate/loglinear.ts). */
  bucket: number;
  count: number;
}
