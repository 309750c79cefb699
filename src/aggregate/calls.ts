import type { ProbeName } from '../generated/bpf';
import type { RawEvent } from '../events/types';
import type { Histogram } from './loglinear';
import { sizeKey } from './map-sizes';
import { isSummed, isUnpin, roleOf } from './truth';

/**
 * The one unit the aggregator counts: calls of one probe, into one domain, by one
 * process, of one size class. A kernel sum read live (it_agg and it_hist), a
 * replay's sum and a single successful event (callsOf) all arrive as this.
 */
export interface Calls {
  probe: ProbeName;
  /** The caller's tgid; 0 for DMA into a kernel driver's DMA-API domain. */
  pid: number;
  /** The thread and comm of the first call. */
  tid: number;
  comm: string;
  /** DMA and IOTLB: the domain and its group (-1 when unknown); 0n and -1 for others. */
  domain: bigint;
  group_id: number;
  /** The it_agg size key: 0 when nothing moved, else 1 + log2 of one call's amount. */
  size_class: number;
  calls: number;
  /** Bytes done (DMA, IOTLB), pages pinned or unpinned (GUP, pins). */
  amount: number;
  /** Bytes (DMA) or pages (GUP, pins) asked for. */
  asked: number;
  /** gup.fast: pages the lockless part pinned. */
  fast: number;
  /** GUP calls that pinned fewer pages than asked. */
  partial: number;
  /** Latency of the calls that had one: the sum (ns) and the largest. */
  lat_sum: number;
  lat_max: number;
  /** Event times (ns from the source's start) of the first and last call. */
  first_ns: number;
  last_ns: number;
  /**
   * The calls' latencies per log-linear bucket, as [bucket, count] pairs; null for
   * a single call (its latency is lat_sum). The kernel keeps buckets per probe and
   * domain (it_hist), not per process: its buckets come on records of their own
   * with calls 0, and its sums with buckets empty.
   */
  buckets: [number, number][] | null;
}

/** A Calls record with nothing counted yet. */
export function noCalls(probe: ProbeName, pid: number, tid: number, comm: string, domain: bigint, group_id: number): Calls {
  return {
    probe, pid, tid, comm, domain, group_id, size_class: 0,
    calls: 0, amount: 0, asked: 0, fast: 0, partial: 0, lat_sum: 0, lat_max: 0, first_ns: 0, last_ns: 0, buckets: null,
  };
}

/**
 * The call an event stands for, as the kernel would have summed it (into `out`,
 * which is returned), or undefined when the event must be counted one by one:
 * its probe is not summed (truth.ts SUMMED), it failed (a failure makes a log
 * line and an errno count), or it moved nothing into a domain. The one place that
 * says how a summed call's fields come from its event. With `summedOnly` false,
 * DMA and IOTLB calls that failed or name no domain are made a call too: the
 * aggregator counts those one by one, the same way.
 */
export function callsOf(e: RawEvent, out: Calls, summedOnly = true): Calls | undefined {
  if (summedOnly && (e.ret < 0 || !isSummed(e.probe))) return undefined;
  let domain = 0n;
  let group = -1;
  let amount: number;
  let asked: number;
  let fast = 0;
  let partial = 0;
  let sized = false;
  let lat = 0;
  switch (e.kind) {
    case 'dma':
      if (summedOnly && e.domain === 0n) return undefined;
      domain = e.domain;
      group = e.group_id;
      amount = e.done;
      asked = e.size;
      sized = true;
      lat = e.lat_ns;
      break;
    case 'iotlb':
      if (summedOnly && e.domain === 0n) return undefined;
      domain = e.domain;
      group = e.group_id;
      amount = asked = e.bytes;
      lat = e.lat_ns;
      break;
    case 'pin':
      if (!isSummed(e.probe)) return undefined;
      // A pin of nothing counts nowhere; unpins nest GUP unpins by thread and time: one by one.
      if (e.pinned <= 0 || isUnpin(roleOf(e.probe)?.counts)) return undefined;
      amount = e.pinned;
      asked = e.nr_pages;
      lat = e.lat_ns;
      break;
    case 'gup':
      if (e.ret < 0) return undefined; // counted with its errno
      amount = e.ret;
      asked = e.nr_pages;
      fast = e.probe === 'gup.fast' ? Math.min(e.fast_pages, e.ret) : 0;
      partial = e.ret < e.nr_pages ? 1 : 0;
      lat = e.lat_ns;
      break;
    case 'map_request':
      if (e.ret < 0) return undefined; // explained in map_failures
      // A request that went through: counted per probe (its maps are counted at iommu.map).
      amount = e.size;
      asked = 0;
      lat = e.lat_ns;
      break;
    case 'selftest':
      amount = asked = 0;
      break;
    default:
      return undefined;
  }
  out.probe = e.probe as ProbeName;
  out.pid = e.pid;
  out.tid = e.tid;
  out.comm = e.comm;
  out.domain = domain;
  out.group_id = group;
  // The kernel keys every call by its amount's size; only maps are counted by it.
  out.size_class = sized ? sizeKey(amount) : 0;
  out.calls = 1;
  out.amount = amount;
  out.asked = asked;
  out.fast = fast;
  out.partial = partial;
  out.lat_sum = out.lat_max = lat > 0 ? lat : 0;
  out.first_ns = out.last_ns = e.ts_ns;
  out.buckets = null;
  return out;
}

/** Adds the calls' latencies to `h`: a single call's exactly; a sum's buckets, and its exact sum and maximum. */
export function feedHistogram(h: Histogram, c: Calls): void {
  if (c.buckets === null) {
    if (c.lat_sum > 0) h.add(c.lat_sum);
    return;
  }
  for (const [b, n] of c.buckets) h.addCounts(b, n);
  if (c.lat_sum > 0) h.addSumMax(c.lat_sum, c.lat_max);
}

/** How many of the calls carry a latency in their buckets (a single call: whether it has one). */
export function latencyCalls(c: Calls): number {
  if (c.buckets === null) return c.lat_sum > 0 ? 1 : 0;
  let n = 0;
  for (const [, count] of c.buckets) n += count;
  return n;
}

/** Whether the record carries any latency to add. */
export function hasLatency(c: Calls): boolean {
  return c.lat_sum > 0 || (c.buckets !== null && c.buckets.length > 0);
}
