/** What a target said about one batch. */
export type SendResult = 'ok' | 'retry' | 'drop';

export interface QueueOptions {
  /** Samples kept waiting at most; past it the oldest batches are dropped. */
  maxSamples: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface Batch<T> {
  item: T;
  samples: number;
}

/**
 * A bounded FIFO of batches for one push target, sent one at a time. A failed
 * send is retried with exponential backoff (with jitter, so a fleet does not retry
 * in step); a refused one is dropped. When full, the oldest batches go first: the
 * newest cumulative values matter most. Nothing here ever throws into the agent.
 */
export class RetryQueue<T> {
  private readonly batches: Batch<T>[] = [];
  private queued = 0;
  private sending = false;
  private backoffMs = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** Aborted on close, so a hanging request never holds the agent's exit. */
  private readonly abort = new AbortController();
  sentSamples = 0;
  failures = 0;
  droppedSamples = 0;
  lastError = '';

  constructor(
    readonly target: string,
    private readonly send: (item: T, signal: AbortSignal) => Promise<SendResult>,
    private readonly opts: QueueOptions,
  ) {}

  get queuedSamples(): number {
    return this.queued;
  }

  push(item: T, samples: number): void {
    if (this.closed) return;
    this.batches.push({ item, samples });
    this.queued += samples;
    // The batch in flight stays until its answer; the oldest of the others go.
    while (this.queued > this.opts.maxSamples) {
      const i = this.sending ? 1 : 0;
      if (i >= this.batches.length) break;
      this.drop(i);
    }
    this.kick();
  }

  private drop(i: number): void {
    const [b] = this.batches.splice(i, 1);
    this.queued -= b.samples;
    this.droppedSamples += b.samples;
  }

  private kick(): void {
    if (this.sending || this.timer || this.closed || this.batches.length === 0) return;
    this.sending = true;
    const head = this.batches[0];
    this.send(head.item, this.abort.signal)
      .catch((err: unknown): SendResult => {
        this.lastError = String((err as Error)?.message ?? err);
        return 'retry';
      })
      .then((result) => {
        this.sending = false;
        if (this.closed) return;
        if (result === 'retry') {
          this.failures++;
          this.retryLater();
          return;
        }
        this.batches.shift();
        this.queued -= head.samples;
        if (result === 'ok') {
          this.backoffMs = 0;
          this.sentSamples += head.samples;
        } else {
          this.failures++;
          this.droppedSamples += head.samples;
        }
        this.kick();
      });
  }

  private retryLater(): void {
    const initial = this.opts.initialBackoffMs ?? 500;
    this.backoffMs = Math.min(this.opts.maxBackoffMs ?? 30_000, this.backoffMs ? this.backoffMs * 2 : initial);
    const wait = this.backoffMs * (0.8 + 0.4 * Math.random());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, wait);
    this.timer.unref();
  }

  /**
   * Lets a healthy target take what is queued until the deadline (a failing one is
   * not waited for), then gives up on the rest, counted as dropped.
   */
  async close(deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    while ((this.batches.length || this.sending) && Date.now() < end && this.backoffMs === 0) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    while (this.batches.length) this.drop(0);
  }
}
