import type { Aggregator } from '../aggregate/engine';
import type { Histogram } from '../aggregate/loglinear';

/** A latency histogram as kept: its log-linear buckets, exact count, sum and maximum. */
export interface DumpHistogram {
  count: number;
  sum_ns: number;
  max_ns: number;
  /** [bucket, count], non-empty buckets in order (src/aggregate/loglinear.ts). */
  buckets: [number, number][];
}

function hist(h: Histogram): DumpHistogram {
  return { count: h.count, sum_ns: h.sum, max_ns: h.max, buckets: [...h.buckets()] };
}

/**
 * Everything the exported metrics are made of, unrounded (format
 * iommutrace-export-dump/1): `export --dump FILE` writes it when the agent stops,
 * so its numbers can be compared with a capture's (the lab's aggregated test).
 */
export function exportDump(a: Aggregator, nowNs: number, lost: number) {
  return {
    format: 'iommutrace-export-dump/1',
    events: { total: a.total, lost },
    probe_events: Object.fromEntries(a.perProbe),
    latency_buckets: Object.fromEntries([...a.latency].map(([probe, h]) => [probe, hist(h)])),
    device_latency: Object.fromEntries(
      [...a.perDevice.byProbe].map(([probe, m]) => [probe, Object.fromEntries([...m].map(([device, h]) => [device, hist(h)]))]),
    ),
    ...a.summary(nowNs),
  };
}

export type ExportDump = ReturnType<typeof exportDump>;
