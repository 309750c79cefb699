import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { compress } from 'snappyjs';
import { PACKAGE_ROOT } from '../loader/native';
import { Family, Labels } from './model';
import { RetryQueue, SendResult } from './queue';
import { flatten } from './series';

let writeRequest: protobuf.Type | undefined;

function WriteRequest(): protobuf.Type {
  writeRequest ??= protobuf.loadSync(path.join(PACKAGE_ROOT, 'src', 'export', 'remote-write.proto')).lookupType('prometheus.WriteRequest');
  return writeRequest;
}

/** A snappy-compressed WriteRequest: every series once, at one timestamp. */
export function encodeWriteRequest(families: Family[], extra: Labels, timestampMs: number): { body: Buffer; samples: number } {
  const series = flatten(families).map((s) => {
    const all: Labels = { ...extra, ...s.labels, __name__: s.name };
    const labels = Object.keys(all)
      .sort()
      .map((name) => ({ name, value: all[name] }));
    return { labels, samples: [{ value: s.value, timestamp: timestampMs }] };
  });
  const W = WriteRequest();
  const raw = W.encode(W.fromObject({ timeseries: series })).finish();
  return { body: Buffer.from(compress(raw)), samples: series.length };
}

/** 429 and 5xx are worth retrying; any other refusal would be refused again. */
export function classify(status: number): SendResult {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 429 || status >= 500) return 'retry';
  return 'drop';
}

export interface RemoteWriteOptions {
  url: string;
  /** Labels every series carries (job, instance), as a scrape would add them. */
  labels: Labels;
  timeoutMs: number;
  maxQueueSamples: number;
}

/** Prometheus remote write 1.0 (protobuf + snappy) through a bounded retry queue. */
export class RemoteWriteTarget {
  readonly queue: RetryQueue<Buffer>;

  constructor(private readonly opts: RemoteWriteOptions) {
    this.queue = new RetryQueue('remote_write', (body, signal) => this.post(body, signal), { maxSamples: opts.maxQueueSamples });
  }

  push(families: Family[], timestampMs: number): void {
    const { body, samples } = encodeWriteRequest(families, this.opts.labels, timestampMs);
    this.queue.push(body, samples);
  }

  private async post(body: Buffer, closing: AbortSignal): Promise<SendResult> {
    const res = await fetch(this.opts.url, {
      method: 'POST',
      body,
      headers: {
        'Content-Encoding': 'snappy',
        'Content-Type': 'application/x-protobuf',
        'User-Agent': 'iommutrace',
        'X-Prometheus-Remote-Write-Version': '0.1.0',
      },
      signal: AbortSignal.any([closing, AbortSignal.timeout(this.opts.timeoutMs)]),
    });
    // Drain the body so the connection can be reused.
    const text = await res.text();
    if (res.status >= 300) this.queue.lastError = `HTTP ${res.status}: ${text.trim().split('\n')[0]}`;
    return classify(res.status);
  }
}
