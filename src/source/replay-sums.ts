import type { AggregateDelta } from '../aggregate/deltas';
import { BUCKETS, bucketOf } from '../aggregate/loglinear';
import { sizeKey } from '../aggregate/map-sizes';
import { roleOf } from '../aggregate/truth';
import type { ProbeName } from '../generated/bpf';
import type { RawEvent } from '../events/types';
import type { AggregateSink } from './source';

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

/** Latency buckets of one probe and domain (it_hist's key), the touched range [lo, hi]. */
interface Buckets {
  probe: ProbeName;
  domain: bigint;
  group_id: number;
  counts: Float64Array;
  lo: number;
  hi: number;
}

/** One it_agg key's sums, and the buckets of its probe and domain. */
type Sum = AggregateDelta & { buckets: Buckets };

/**
 * How a probe's calls are summed (which kind, whether by size class) and its
 * keys being summed: calls of several probes interleave (a pin before each map,
 * a sync after each unmap), and a probe has a few keys at a time, found by
 * comparing rather than by building a key.
 */
interface ProbeSums {
  kind: 'dma' | 'iotlb' | 'pin';
  sized: boolean;
  keys: Sum[];
  latency: Buckets[];
}

/** The probes whose calls the kernel sums in aggregated mode, as the aggregator counts them (engine.ts addDelta). */
function probeSums(probe: string): ProbeSums | undefined {
  const q = roleOf(probe)?.counts;
  if (q === 'map' || q === 'unmap') return { kind: 'dma', sized: q === 'map', keys: [], latency: [] };
  if (q === 'iotlb.sync' || q === 'iotlb.flush') return { kind: 'iotlb', sized: false, keys: [], latency: [] };
  // Unpins come one by one live too: a VFIO unpin claims the GUP unpins inside it by thread and time.
  if (q === 'pin.vfio' || q === 'pin.iommufd') return { kind: 'pin', sized: false, keys: [], latency: [] };
  return undefined;
}

/**
 * A replay's calls summed per key before the sink gets them, as the kernel sums
 * them live in aggregated mode (it_agg and it_hist keys: bpf/dma.bpf.c,
 * iotlb.bpf.c, pins.bpf.c): a busy host's capture holds maps by the million,
 * and top and export then pay per run of calls, not per call. The sink counts
 * the sums with addDelta() and addLatency(), which count what the calls' events
 * would (test/replay-sums.ts checks it on every lab capture).
 *
 * Summed are only calls nothing looks at one by one, those that succeeded (a
 * failure makes a log line): DMA maps and unmaps and IOTLB invalidations into a
 * domain, and pins of at least a page. Every other event goes to the sink after
 * the sums taken before it, so each table sees the calls in their order: an
 * attach that gives a domain its device counts only the maps after it there.
 */
export class ReplaySums {
  /** The keys being summed, in the order of their first call; their latency buckets, the same. */
  private readonly sums: Sum[] = [];
  private readonly latency: Buckets[] = [];
  private readonly probes = new Map<string, ProbeSums | undefined>();
  /** The last probe asked about: calls come in runs. */
  private lastProbe = '';
  private lastSums: ProbeSums | undefined;
  /** Bucket arrays of earlier flushes, zeroed: the keys come back every tick. */
  private readonly spare: Float64Array[] = [];
  /** Sums handed over and the calls they held, since the last look; events left to go one by one. */
  private handed = 0;
  private handedCalls = 0;
  private paused = 0;

  constructor(private readonly sink: AggregateSink) {}

  /** Sums `e` when the kernel would have (true); false: hand it over as an event, after flush(). */
  take(e: RawEvent): boolean {
    if (this.paused > 0) {
      this.paused--;
      return false;
    }
    if (e.ret < 0) return false;
    if (e.probe !== this.lastProbe) {
      this.lastProbe = e.probe;
      if (!this.probes.has(e.probe)) this.probes.set(e.probe, probeSums(e.probe));
      this.lastSums = this.probes.get(e.probe);
    }
    const p = this.lastSums;
    if (!p || p.kind !== e.kind) return false;
    let domain: bigint;
    let amount: number;
    let asked: number;
    if (e.kind === 'dma' && e.domain !== 0n) {
      domain = e.domain;
      amount = e.done;
      asked = e.size;
    } else if (e.kind === 'iotlb' && e.domain !== 0n) {
      domain = e.domain;
      amount = asked = e.bytes;
    } else if (e.kind === 'pin' && e.pinned > 0) {
      // A pin of nothing counts nowhere one by one.
      domain = 0n;
      amount = e.pinned;
      asked = e.nr_pages;
    } else return false;
    // Maps by size class (the aggregator counts them so); nothing else is.
    const key = p.sized ? sizeKey(amount) : 0;
    let s: Sum | undefined;
    for (let i = p.keys.length - 1; i >= 0; i--) {
      const k = p.keys[i];
      if (k.domain === domain && k.pid === e.pid && k.comm === e.comm && k.size_class === key) {
        s = k;
        break;
      }
    }
    if (!s) {
      if (p.keys.length >= MAX_KEYS) this.flush();
      s = this.sumOf(p, e, domain, key);
    }
    s.calls++;
    s.amount += amount;
    s.asked += asked;
    if (e.ts_ns > s.last_ns) s.last_ns = e.ts_ns;
    const lat = e.lat_ns;
    if (lat > 0) {
      s.lat_sum += lat;
      if (lat > s.lat_max) s.lat_max = lat;
      const h = s.buckets;
      const b = bucketOf(lat);
      h.counts[b]++;
      if (b < h.lo) h.lo = b;
      if (b > h.hi) h.hi = b;
    }
    return true;
  }

  private sumOf(p: ProbeSums, e: RawEvent, domain: bigint, key: number): Sum {
    const probe = e.probe as ProbeName;
    const group_id = 'group_id' in e ? e.group_id : -1;
    let h = p.latency.find((x) => x.domain === domain);
    if (!h) {
      h = { probe, domain, group_id, counts: this.spare.pop() ?? new Float64Array(BUCKETS), lo: BUCKETS, hi: -1 };
      p.latency.push(h);
      this.latency.push(h);
    }
    const s: Sum = {
      probe, pid: e.pid, tid: e.tid, comm: e.comm, domain, group_id, size_class: key,
      calls: 0, amount: 0, asked: 0, fast: 0, partial: 0, lat_sum: 0, lat_max: 0, first_ns: e.ts_ns, last_ns: e.ts_ns,
      buckets: h,
    };
    p.keys.push(s);
    this.sums.push(s);
    return s;
  }

  /** Hands the sums to the sink (the calls in key order of their first call, then their latency buckets). */
  flush(): void {
    if (this.sums.length === 0) return;
    for (const s of this.sums) {
      this.sink.addDelta(s);
      this.handedCalls += s.calls;
    }
    this.handed += this.sums.length;
    if (this.handed >= CHECK_KEYS) {
      if (this.handedCalls < RUN * this.handed) this.paused = PAUSE;
      this.handed = this.handedCalls = 0;
    }
    for (const h of this.latency) {
      for (let b = h.lo; b <= h.hi; b++) {
        const count = h.counts[b];
        if (count === 0) continue;
        h.counts[b] = 0;
        this.sink.addLatency({ probe: h.probe, domain: h.domain, group_id: h.group_id, bucket: b, count });
      }
      this.spare.push(h.counts);
    }
    this.sums.length = 0;
    this.latency.length = 0;
    for (const p of this.probes.values()) {
      if (!p) continue;
      p.keys.length = 0;
      p.latency.length = 0;
    }
  }
}
