/**
 * Log-linear histograms, the same buckets as bpf/include/hist.h: one bucket per
 * value below 8, then 8 linear sub-buckets per power of two (at most 12.5% wide).
 * Kernel-side histograms and user-side ones merge bucket for bucket.
 */
export const SUB_BITS = 3;
export const SUB = 1 << SUB_BITS;

/** Bucket index of a value (mirror of it_hist_bucket()). */
export function bucketOf(v: number): number {
  if (v < SUB) return Math.max(0, Math.floor(v));
  if (v < 4294967296) {
    // The common case (latencies under 4 s): integer shifts only.
    const m = 31 - Math.clz32(v);
    return (m - SUB_BITS + 1) * SUB + ((v >>> (m - SUB_BITS)) & (SUB - 1));
  }
  // The highest set bit, from 32-bit halves (exact, unlike Math.log2 near powers of two).
  const hi = Math.floor(v / 4294967296);
  const m = hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(v >>> 0);
  return (m - SUB_BITS + 1) * SUB + (Math.floor(v / 2 ** (m - SUB_BITS)) & (SUB - 1));
}

/** Smallest value that falls in bucket b. */
export function bucketLow(b: number): number {
  if (b < SUB) return b;
  return (SUB + (b & (SUB - 1))) * 2 ** (Math.floor(b / SUB) - 1);
}

/** One past the largest value of bucket b. */
export function bucketHigh(b: number): number {
  return bucketLow(b + 1);
}

export interface Percentiles {
  count: number;
  p50_ns: number;
  p90_ns: number;
  p99_ns: number;
  max_ns: number;
}

/** Buckets of a 64-bit value: the last is bucketOf(2^64 - 1). */
export const BUCKETS = (64 - SUB_BITS + 1) * SUB;

export class Histogram {
  /** Count per bucket index: a flat array, so adding is one indexed increment. */
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;
  min = Infinity;

  add(v: number, n = 1): void {
    this.counts[bucketOf(v)] += n;
    this.count += n;
    this.sum += v * n;
    if (v > this.max) this.max = v;
    if (v < this.min) this.min = v;
  }

  /** Adds counts straight from kernel buckets (no exact values: max is the bucket's top). */
  addBucket(b: number, n: number): void {
    if (n <= 0) return;
    this.counts[b] += n;
    this.count += n;
    this.sum += ((bucketLow(b) + bucketHigh(b)) / 2) * n;
    this.max = Math.max(this.max, bucketHigh(b) - 1);
    this.min = Math.min(this.min, bucketLow(b));
  }

  /** Counts of a kernel bucket (aggregated mode); the calls' exact sum and maximum come from addSumMax(). */
  addCounts(b: number, n: number): void {
    if (n <= 0) return;
    this.counts[b] += n;
    this.count += n;
    this.min = Math.min(this.min, bucketLow(b));
  }

  /** The exact sum of latencies added by addCounts(), and the largest one seen. */
  addSumMax(sum: number, max: number): void {
    this.sum += sum;
    if (max > this.max) this.max = max;
  }

  merge(o: Histogram): void {
    for (let b = 0; b < BUCKETS; b++) this.counts[b] += o.counts[b];
    this.count += o.count;
    this.sum += o.sum;
    this.max = Math.max(this.max, o.max);
    this.min = Math.min(this.min, o.min);
  }

  /**
   * The value at quantile q, interpolated inside its bucket and clamped to the
   * exact maximum seen, so it is never off by more than the bucket's 12.5%.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = q * this.count;
    let seen = 0;
    for (const [b, n] of this.buckets()) {
      if (seen + n >= rank) {
        const lo = bucketLow(b);
        const hi = bucketHigh(b);
        const v = hi - lo <= 1 ? lo : lo + ((hi - lo) * (rank - seen)) / n;
        return Math.min(Math.round(v), this.max);
      }
      seen += n;
    }
    return this.max;
  }

  /** The non-empty buckets in order, as [bucket, count]. */
  *buckets(): IterableIterator<[number, number]> {
    for (let b = 0; b < BUCKETS; b++) if (this.counts[b]) yield [b, this.counts[b]];
  }

  percentiles(): Percentiles {
    return {
      count: this.count,
      p50_ns: this.quantile(0.5),
      p90_ns: this.quantile(0.9),
      p99_ns: this.quantile(0.99),
      max_ns: this.count ? this.max : 0,
    };
  }

  /** Counts folded into power-of-two ranges [2^k, 2^(k+1)), as funclatency prints them. */
  log2(): { low: number; high: number; count: number }[] {
    const byPow = new Map<number, number>();
    for (const [b, n] of this.buckets()) {
      const low = bucketLow(b);
      const k = low === 0 ? -1 : Math.floor(Math.log2(low));
      byPow.set(k, (byPow.get(k) ?? 0) + n);
    }
    if (byPow.size === 0) return [];
    const ks = [...byPow.keys()];
    const out = [];
    for (let k = Math.min(...ks); k <= Math.max(...ks); k++) {
      out.push({ low: k < 0 ? 0 : 2 ** k, high: k < 0 ? 1 : 2 ** (k + 1), count: byPow.get(k) ?? 0 });
    }
    return out;
  }
}
