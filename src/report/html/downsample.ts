/**
 * Time bins for the HTML report's timeline. A capture's length is only known at its
 * end (the trailer), so the bins start narrow and, when an event falls past the last
 * one, neighbours are merged pairwise (the width doubles): a sum is never split or
 * dropped, so every series' total stays exact however long the capture runs.
 */

/** The narrowest bin: finer than any latency the page can show. */
export const FIRST_WIDTH_NS = 1000;

export class Bins {
  /** Nanoseconds each bin covers; bin i is [i * width, (i + 1) * width). */
  width = FIRST_WIDTH_NS;
  /** Bins in use (the last one holding anything, plus one). */
  used = 0;
  private readonly series: Float64Array[] = [];

  constructor(readonly maxBins = 2048) {
    if (maxBins < 2 || maxBins % 2) throw new Error('maxBins must be even and at least 2');
  }

  /** A new series of sums, sharing the bins' width. */
  addSeries(): Float64Array {
    const s = new Float64Array(this.maxBins);
    this.series.push(s);
    return s;
  }

  /** The bin of time `ts` (ns from the capture's start), merging bins until it fits. */
  index(ts: number): number {
    // A damaged or hostile time cannot loop forever: not finite counts at the start.
    const t = ts > 0 && Number.isFinite(ts) ? ts : 0;
    let i = Math.floor(t / this.width);
    while (i >= this.maxBins) {
      this.halve();
      i = Math.floor(t / this.width);
    }
    if (i >= this.used) this.used = i + 1;
    return i;
  }

  /** Doubles the width: bin i takes the sums of bins 2i and 2i + 1. */
  private halve(): void {
    const half = this.maxBins / 2;
    for (const s of this.series) {
      for (let i = 0; i < half; i++) s[i] = s[2 * i] + s[2 * i + 1];
      s.fill(0, half);
    }
    this.width *= 2;
    this.used = Math.ceil(this.used / 2);
  }
}

/** One series' sums as a plain array of the bins in use. */
export function used(bins: Bins, s: Float64Array): number[] {
  return Array.from(s.subarray(0, bins.used));
}

/** Running totals: the level after each bin (what is mapped or pinned at its end). */
export function cumulative(added: number[], removed?: number[]): number[] {
  const out = new Array<number>(added.length);
  let level = 0;
  for (let i = 0; i < added.length; i++) {
    level += added[i] - (removed ? removed[i] : 0);
    out[i] = level;
  }
  return out;
}
