/**
 * Per-second rates of monotonic counters, sampled on each redraw, with a bounded
 * history per counter for sparklines. Time is the source's event time, so a
 * replay at any speed shows the rates the capture saw.
 */
export class RateTracker {
  private lastT = -1;
  private readonly lastValues = new Map<string, number>();
  private readonly histories = new Map<string, number[]>();

  constructor(readonly capacity = 600) {}

  /** Adds one sample; a sample that does not move time forward is ignored. */
  sample(tNs: number, values: Iterable<[string, number]>): void {
    const dt = (tNs - this.lastT) / 1e9;
    if (this.lastT >= 0 && dt <= 0) return;
    for (const [key, v] of values) {
      const prev = this.lastValues.get(key);
      this.lastValues.set(key, v);
      // The first sample only sets the base. A counter first seen now, or one that
      // went backwards (its owner was reset), counts from 0.
      if (this.lastT < 0) continue;
      let h = this.histories.get(key);
      if (!h) this.histories.set(key, (h = []));
      h.push((prev !== undefined && v >= prev ? v - prev : v) / dt);
      if (h.length > this.capacity) h.splice(0, h.length - this.capacity);
    }
    this.lastT = tNs;
  }

  /** The latest rate of a counter (per second), 0 before two samples. */
  rate(key: string): number {
    const h = this.histories.get(key);
    return h && h.length ? h[h.length - 1] : 0;
  }

  /** Up to `n` latest rates, oldest first. */
  history(key: string, n = this.capacity): number[] {
    return (this.histories.get(key) ?? []).slice(-n);
  }

  reset(): void {
    this.lastT = -1;
    this.lastValues.clear();
    this.histories.clear();
  }
}
