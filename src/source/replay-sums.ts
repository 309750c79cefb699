import { Calls, callsOf, noCalls } from '../aggregate/calls';
import { BUCKETS, bucketOf } from '../aggregate/loglinear';
import type { RawEvent } from '../events/types';
import type { CallsSink } from './source';

/** Keys of one probe summed at once; past it the sums go to the sink early (the same numbers, sooner). */
const MAX_KEYS = 32;

/**
 * Summing pays when calls come in runs. Interleaved with events that go one by
 * one (an unpin after each unmap), a sum holds a call or two and costs more than
 * its events: when the last CHECK_KEYS sums held fewer than RUN calls each, the
 * next PAUSE events go one by one, then summing is tried again.
 */
const CHECK_KEYS = 256;
const RUN = 4;
const PAUSE = 16_384;

/** One key's sums, and its calls' latencies per bucket over the touched range [lo, hi]. */
interface Sum {
  calls: Calls;
  counts: Float64Array;
  lo: number;
  hi: number;
}

/**
 * A replay's calls summed per key before the sink gets them, as the kernel sums
 * them live in aggregated mode: a busy host's capture holds maps by the million,
 * and top and export then pay per run of calls, not per call. What is summed and
 * how is callsOf()'s (src/aggregate/calls.ts), which follows the kernel's table
 * (truth.ts SUMMED); the sink counts the sums as their events
 * (test/replay-sums.ts checks it on every lab capture).
 *
 * Every other event goes to the sink after the sums taken before it, so each
 * table sees the calls in their order: an attach that gives a domain its device
 * counts only the maps after it there.
 */
export class ReplaySums {
  /** The keys being summed, in the order of their first call. */
  private readonly sums: Sum[] = [];
  /** Per probe, its keys being summed: calls of several probes interleave (a pin before each map). */
  private readonly byProbe = new Map<string, Sum[]>();
  /** The last probe asked about and its keys: calls come in runs. */
  private lastProbe = '';
  private lastKeys: Sum[] = [];
  /** The call of the event being taken (callsOf fills it). */
  private readonly one: Calls = noCalls('iommu.map', 0, 0, '', 0n, -1);
  /** Bucket arrays of earlier flushes, zeroed: the keys come back every tick. */
  private readonly spare: Float64Array[] = [];
  /** Sums handed over and the calls they held, since the last look; events left to go one by one. */
  private handed = 0;
  private handedCalls = 0;
  private paused = 0;

  constructor(private readonly sink: CallsSink) {}

  /** Sums `e` when the kernel would have (true); false: hand it over as an event, after flush(). */
  take(e: RawEvent): boolean {
    if (this.paused > 0) {
      this.paused--;
      return false;
    }
    const c = callsOf(e, this.one);
    if (!c) return false;
    if (e.probe !== this.lastProbe) {
      this.lastProbe = e.probe;
      let keys = this.byProbe.get(e.probe);
      if (!keys) this.byProbe.set(e.probe, (keys = []));
      this.lastKeys = keys;
    }
    const keys = this.lastKeys;
    let s: Sum | undefined;
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i].calls;
      if (k.domain === c.domain && k.pid === c.pid && k.comm === c.comm && k.size_class === c.size_class) {
        s = keys[i];
        break;
      }
    }
    if (!s) {
      if (keys.length >= MAX_KEYS) this.flush();
      s = { calls: { ...c, calls: 0, amount: 0, asked: 0, fast: 0, partial: 0, lat_sum: 0, lat_max: 0 }, counts: this.spare.pop() ?? new Float64Array(BUCKETS), lo: BUCKETS, hi: -1 };
      keys.push(s);
      this.sums.push(s);
    }
    const k = s.calls;
    k.calls++;
    k.amount += c.amount;
    k.asked += c.asked;
    k.fast += c.fast;
    k.partial += c.partial;
    if (c.last_ns > k.last_ns) k.last_ns = c.last_ns;
    const lat = c.lat_sum;
    if (lat > 0) {
      k.lat_sum += lat;
      if (lat > k.lat_max) k.lat_max = lat;
      const b = bucketOf(lat);
      s.counts[b]++;
      if (b < s.lo) s.lo = b;
      if (b > s.hi) s.hi = b;
    }
    return true;
  }

  /** Hands the sums to the sink, in the order of their first call. */
  flush(): void {
    if (this.sums.length === 0) return;
    for (const s of this.sums) {
      const buckets: [number, number][] = [];
      for (let b = s.lo; b <= s.hi; b++) {
        const count = s.counts[b];
        if (count === 0) continue;
        s.counts[b] = 0;
        buckets.push([b, count]);
      }
      this.spare.push(s.counts);
      s.calls.buckets = buckets;
      this.sink.addCalls(s.calls);
      this.handedCalls += s.calls.calls;
    }
    this.handed += this.sums.length;
    if (this.handed >= CHECK_KEYS) {
      if (this.handedCalls < RUN * this.handed) this.paused = PAUSE;
      this.handed = this.handedCalls = 0;
    }
    this.sums.length = 0;
    for (const keys of this.byProbe.values()) keys.length = 0;
  }
}
