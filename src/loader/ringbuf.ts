import * as lifecycle from './lifecycle';
import { BpfMap } from './map';
import { native, NativeRingConsumer } from './native';

/**
 * One wakeup's records, as the addon frames them: per record a u32 length, a u32
 * zero, then the record padded to 8 bytes.
 */
export interface RecordBatch {
  buffer: Buffer;
  count: number;
}

/** Calls fn(offset, length) for every record of a batch; offsets index batch.buffer. */
export function forEachRecord(batch: RecordBatch, fn: (offset: number, length: number) => void): void {
  const buf = batch.buffer;
  let off = 0;
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32LE(off);
    fn(off + 8, len);
    off += 8 + ((len + 7) & ~7);
  }
}

export interface RingBufferOptions {
  /** At most this many records per wakeup (default 4096): the rest waits for the next loop turn. */
  maxRecords?: number;
}

/**
 * A ring-buffer map consumed on the event loop: the addon polls the map fd with
 * uv_poll and hands over one Buffer per wakeup.
 */
export class RingBuffer {
  private readonly consumer: NativeRingConsumer;
  private readonly onBatch: (batch: RecordBatch) => void;

  constructor(map: BpfMap | number, onBatch: (batch: RecordBatch) => void, options: RingBufferOptions = {}) {
    const fd = typeof map === 'number' ? map : map.fd;
    this.onBatch = onBatch;
    this.consumer = new (native().RingConsumer)(
      fd,
      (bufOrErr, count) => {
        if (bufOrErr instanceof Error) throw bufOrErr;
        onBatch({ buffer: bufOrErr, count: count ?? 0 });
      },
      { maxRecords: options.maxRecords ?? 4096 },
    );
    lifecycle.track(lifecycle.CONSUMER, this);
  }

  get closed(): boolean {
    return this.consumer.closed;
  }

  pause(): void {
    this.consumer.pause();
  }

  resume(): void {
    this.consumer.resume();
  }

  /** Lets the process exit while the consumer is idle (like timer.unref()). */
  unref(): this {
    this.consumer.unref();
    return this;
  }

  ref(): this {
    this.consumer.ref();
    return this;
  }

  /** Reads what the ring holds right now, synchronously, in capped batches; returns the record count. */
  drain(): number {
    let total = 0;
    for (;;) {
      const batch = this.consumer.consume();
      if (batch.count === 0) return total;
      total += batch.count;
      this.onBatch(batch);
    }
  }

  close(): void {
    this.consumer.close();
    lifecycle.untrack(lifecycle.CONSUMER, this);
  }
}
