import { HrTime, ValueType } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { LE_SECONDS } from './histogram';
import { Family, Labels } from './model';
import { RetryQueue, SendResult } from './queue';
import { classify } from './remote-write';

const SCOPE = { name: 'iommutrace' };

function hrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** OTLP names carry no _total (the unit and monotonicity say it); everything else matches Prometheus. */
export function otlpName(f: Family): string {
  return f.type === 'counter' ? f.name.replace(/_total$/, '') : f.name;
}

/**
 * Families as OTLP metric data, cumulative from the agent's start: counters are
 * monotonic sums, gauges gauges, histograms explicit-bucket histograms with the
 * same bounds as the Prometheus `le` labels.
 */
export function toResourceMetrics(families: Family[], resource: Labels, startMs: number, nowMs: number): ResourceMetrics {
  const startTime = hrTime(startMs);
  const endTime = hrTime(nowMs);
  const metrics: MetricData[] = families.map((f): MetricData => {
    const descriptor = { name: otlpName(f), description: f.help, unit: f.unit, valueType: ValueType.DOUBLE };
    const aggregationTemporality = AggregationTemporality.CUMULATIVE;
    if (f.type === 'histogram') {
      const dataPoints = f.samples.map((s) => {
        const counts = s.cumulative.map((c, i) => c - (i ? s.cumulative[i - 1] : 0));
        counts.push(s.count - (s.cumulative[s.cumulative.length - 1] ?? 0));
        return { startTime, endTime, attributes: s.labels, value: { buckets: { boundaries: [...LE_SECONDS], counts }, sum: s.sum, count: s.count } };
      });
      return { descriptor, aggregationTemporality, dataPointType: DataPointType.HISTOGRAM, dataPoints };
    }
    const dataPoints = f.samples.map((s) => ({ startTime, endTime, attributes: s.labels, value: s.value }));
    if (f.type === 'gauge') return { descriptor, aggregationTemporality, dataPointType: DataPointType.GAUGE, dataPoints };
    return { descriptor, aggregationTemporality, dataPointType: DataPointType.SUM, dataPoints, isMonotonic: true };
  });
  return { resource: resourceFromAttributes(resource), scopeMetrics: [{ scope: SCOPE, metrics }] };
}

export interface OtlpOptions {
  url: string;
  /** Resource attributes (service.name, host.name, ...). */
  resource: Labels;
  timeoutMs: number;
  maxQueueSamples: number;
}

/** OTLP/HTTP protobuf through the OpenTelemetry SDK's exporter, behind the same bounded retry queue. */
export class OtlpTarget {
  readonly queue: RetryQueue<ResourceMetrics>;
  private readonly exporter: OTLPMetricExporter;
  private readonly startMs = Date.now();

  constructor(private readonly opts: OtlpOptions) {
    this.exporter = new OTLPMetricExporter({ url: opts.url, timeoutMillis: opts.timeoutMs, concurrencyLimit: 1 });
    this.queue = new RetryQueue('otlp', (m) => this.send(m), { maxSamples: opts.maxQueueSamples });
  }

  push(families: Family[], samples: number, nowMs: number): void {
    this.queue.push(toResourceMetrics(families, this.opts.resource, this.startMs, nowMs), samples);
  }

  private send(m: ResourceMetrics): Promise<SendResult> {
    return new Promise((resolve) => {
      this.exporter.export(m, (result) => {
        if (result.error) this.queue.lastError = result.error.message;
        // ExportResultCode.SUCCESS is 0; an HTTP refusal carries its status as `code`.
        if (result.code === 0) return resolve('ok');
        const status = (result.error as { code?: number } | undefined)?.code;
        resolve(typeof status === 'number' ? classify(status) : 'retry');
      });
    });
  }
}
