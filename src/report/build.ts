import type { Aggregator } from '../aggregate/engine';
import { Report } from '../aggregate/report';
import type { RawEvent } from '../events/types';
import { probesAtEnd } from '../capture/header';
import { Pipeline } from '../source/pipeline';
import { ReplaySource } from '../source/replay';
import { notWatched } from './watched';

export interface BuildOptions {
  /** Overrides the leak age the capture was recorded with. */
  leakAgeNs?: number;
  /** Only this process's events. */
  pid?: number;
  /** Only events in [since, until], in CLOCK_MONOTONIC ns (bpf_ktime_get_ns, perf). */
  sinceNs?: bigint;
  untilNs?: bigint;
}

function orNull(s: string): string | null {
  return s ? s : null;
}

/** Reads a capture and aggregates it into the report-format object. */
export function buildReport(path: string, options: BuildOptions = {}, observe?: (e: RawEvent, agg: Aggregator) => void): Report {
  // The window in the capture's own time (ns from its clock base), once the header says where that is.
  let from = -Infinity;
  let to = Infinity;
  const src = new ReplaySource(path, {
    speed: 0,
    filter: (e) => (options.pid === undefined || e.pid === options.pid) && e.ts_ns >= from && e.ts_ns <= to,
  });
  const h = src.contents.header;
  const base = BigInt(h.clockBaseNs || '0');
  if (options.sinceNs !== undefined) from = Number(options.sinceNs - base);
  if (options.untilNs !== undefined) to = Number(options.untilNs - base);
  // One by one: the report is the per-event reference the summed paths are checked against.
  // `observe` sees each event after the aggregator (the HTML report's timeline).
  const pipeline: Pipeline = new Pipeline(src, { leakAgeNs: options.leakAgeNs ?? h.leakAgeNs, summed: false, onEvent: observe && ((e) => observe(e, pipeline.agg)) });
  pipeline.start();
  src.playAll();
  const a = pipeline.agg;
  const contents = src.contents;
  const endNs = contents.trailer?.endNs ?? a.lastTs;
  const lastSnapshot = contents.snapshots[contents.snapshots.length - 1];
  const lost = contents.trailer?.lost ?? lastSnapshot?.counters.find((c) => c.name === 'ringbuf_lost')?.value ?? 0;
  const probes = probesAtEnd(h, contents.snapshots).map((p) => ({
    name: p.name,
    target: orNull(p.target),
    mode: orNull(p.mode),
    status: p.status,
    reason: orNull(p.reason),
    reason_code: orNull(p.reasonCode ?? ''),
    events: a.eventsOf(p.name),
  }));
  return {
    format: 'iommutrace-report/1',
    capture: {
      started_at: new Date(h.wallBaseUnixNs / 1e6).toISOString().replace(/\.\d+Z$/, 'Z'),
      duration_ns: endNs,
      host: h.host,
      kernel: { release: h.kernelRelease, btf: h.btf },
      cut: contents.cut,
      damage: contents.damage ?? null,
      stop_reason: contents.trailer?.stopReason ?? null,
    },
    probes,
    not_watched: notWatched(probes),
    events: { total: a.total, lost, fault_reports_dropped: a.ioFaults.reportsDropped },
    ...a.summary(endNs),
  };
}
