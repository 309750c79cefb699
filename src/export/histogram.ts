import { bucketHigh, Histogram } from '../aggregate/loglinear';

/** Exponents of the exported `le` bounds: 2^4 ns (16 ns) to 2^34 ns (about 17 s), then +Inf. */
export const MIN_EXP = 4;
export const MAX_EXP = 34;

/** The finite `le` bounds in seconds, 2^MIN_EXP ns to 2^MAX_EXP ns. */
export const LE_SECONDS: readonly number[] = Array.from({ length: MAX_EXP - MIN_EXP + 1 }, (_, i) => 2 ** (MIN_EXP + i) / 1e9);

export interface Exp2Histogram {
  /** Cumulative counts, one per LE_SECONDS bound (values <= bound). */
  cumulative: number[];
  count: number;
  sumSeconds: number;
}

/**
 * Folds log-linear buckets into power-of-two `le` bounds, as ebpf_exporter's exp2
 * histograms. Every log-linear bucket lies inside one power-of-two range, so the
 * fold is exact: a bucket [lo, hi) of integer nanoseconds is counted under the
 * smallest bound 2^j >= hi - 1, and no value is ever counted under a bound it exceeds.
 */
export function toExp2(h: Histogram): Exp2Histogram {
  const perBound = new Array<number>(LE_SECONDS.length).fill(0);
  for (const [b, n] of h.buckets()) {
    const top = bucketHigh(b) - 1;
    const j = Math.max(MIN_EXP, top <= 1 ? 0 : Math.ceil(Math.log2(top)));
    // Above the last bound only +Inf (the total count) holds it.
    if (j <= MAX_EXP) perBound[j - MIN_EXP] += n;
  }
  let running = 0;
  const cumulative = perBound.map((n) => (running += n));
  return { cumulative, count: h.count, sumSeconds: h.sum / 1e9 };
}

/** The `le` label of a bound, written the same way by every exporter. */
export function leLabel(seconds: number): string {
  return Number.isFinite(seconds) ? String(seconds) : '+Inf';
}
