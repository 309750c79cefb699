import { recordedDevices } from '../probes/iommu-groups';
import { Aggregator } from '../aggregate/engine';
import { Report } from '../aggregate/report';
import { CaptureContents, readCaptureFile } from '../capture/reader';
import { CaptureHeader } from '../capture/types';
import { probesAtEnd } from '../capture/header';
import type { ProcessFacts } from '../process/facts';
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
export function buildReport(path: string, options: BuildOptions = {}): Report {
  let agg: Aggregator | undefined;
  const symbols = new Map<string, string>();
  let processes = new Map<number, ProcessFacts>();
  let unread = 0;
  const makeAggregator = (h: CaptureHeader): Aggregator =>
    new Aggregator({
      attached: new Set(h.probes.filter((p) => p.status === 'attached').map((p) => p.name)),
      // Symbols come at the end of the file; stacks are symbolized at summary time.
      symbolize: (a) => symbols.get(a.toString(16)) ?? '0x' + a.toString(16),
      leakAgeNs: options.leakAgeNs ?? h.leakAgeNs,
      hostDevices: recordedDevices(h.devices),
      // Like symbols, process facts are read with the whole file; asked at summary time.
      processFacts: (pid) => processes.get(pid),
      processFactsOverflow: () => unread,
    });
  // The window in the capture's own time (ns from its clock base).
  let from = -Infinity;
  let to = Infinity;
  const contents: CaptureContents = readCaptureFile(path, {
    onHeader: (h) => {
      agg = makeAggregator(h);
      const base = BigInt(h.clockBaseNs || '0');
      if (options.sinceNs !== undefined) from = Number(options.sinceNs - base);
      if (options.untilNs !== undefined) to = Number(options.untilNs - base);
    },
    onEvent: (e) => {
      if (options.pid !== undefined && e.pid !== options.pid) return;
      if (e.ts_ns < from || e.ts_ns > to) return;
      agg!.add(e);
    },
  });
  for (const [a, n] of contents.symbols) symbols.set(a, n);
  processes = contents.processes;
  unread = contents.processesUnread;
  const a = agg!;
  const h = contents.header;
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
