import { Aggregator } from '../aggregate/engine';
import { attachSource } from '../aggregate/devices';
import type { Histogram } from '../aggregate/loglinear';
import { rowKey } from '../aggregate/per-device';
import { RateTracker } from '../aggregate/rates';
import { RawEvent } from '../events/types';
import { Pipeline } from '../source/pipeline';
import { describeProbeChanges } from '../source/probe-changes';
import { EndNote, EventSource } from '../source/source';
import { describeEvent, EventLog } from './eventlog';

export type Summary = ReturnType<Aggregator['summary']>;

/** Everything the widgets draw, taken once per redraw. */
/**
 * References listed per group and kind on the screen: a redraw each second lists
 * these, whatever the ledger holds (262,144 references took the heap to 195 MB).
 */
export const MAX_LISTED_REFS = 100;
/** Leaks remembered as already logged. */
const MAX_SEEN_LEAKS = 10_000;

export interface View {
  kind: 'live' | 'replay';
  host: string;
  kernel: string;
  probes: EventSource['probes'];
  nowNs: number;
  paused: boolean;
  ended: boolean;
  /** Why the replay ended early (cut, damaged), once it has. */
  endNote?: EndNote;
  events: number;
  lost: number;
  cpuPct: number;
  /** Groups' held and leaked lists hold at most MAX_LISTED_REFS each; these are their full counts per group. */
  summary: Summary;
  refCounts: Map<number, { held: number; leaked: number }>;
  agg: Aggregator;
  /** Per device (row key): map latency, every map probe together, and pages pinned and not unpinned. */
  detail: { mapLatency: Map<string, Histogram>; pinned: Map<string, number> };
  rates: RateTracker;
  /** Event time of each rate sample: the newest entries line up with the end of every rate history. */
  sampleTimes: number[];
  log: EventLog;
}

/**
 * The dashboard's data: the aggregator and what the TUI adds to it (per-device
 * detail, rates, the event log). Events go in as they come; views come out on
 * the redraw timer. `reset` starts every count over.
 */
export class Model {
  readonly pipeline: Pipeline;
  log = new EventLog();
  readonly rates = new RateTracker();
  readonly sampleTimes: number[] = [];
  private lastSampleNs = -1;
  private seenLeaks = new Set<string>();
  private readonly attachWatched: boolean;
  private endLogged = false;
  private readonly vmOf = (pid: number) => this.src.processFacts?.(pid)?.vm;

  constructor(
    private readonly src: EventSource,
    leakAgeNs: number,
  ) {
    this.attachWatched = attachSource(src.attached) !== 'tracepoint';
    // What the kernel sums comes summed (live in aggregated mode, summed as a replay plays).
    this.pipeline = new Pipeline(src, { leakAgeNs, summed: true, onEvent: (e) => this.logEvent(e) });
  }

  get agg(): Aggregator {
    return this.pipeline.agg;
  }

  /** Starts the source; `onEnd` fires when a replay runs out. */
  start(onEnd?: () => void): void {
    // Probes that attach as their module loads, or detach as it is unloaded: in the log, once per reason.
    this.src.onProbeChange?.((changes) => {
      for (const { change, atNs, text } of describeProbeChanges(changes)) this.log.push({ ts_ns: atNs, level: change === 'attached' ? 'info' : 'warn', text });
    });
    this.pipeline.start(onEnd);
  }

  /** Every count starts over (`r`). */
  reset(): void {
    this.pipeline.reset();
    this.log = new EventLog();
    this.rates.reset();
    this.sampleTimes.length = 0;
    this.lastSampleNs = -1;
    this.seenLeaks = new Set();
  }

  /** One event, as the pipeline hands it over (tests and benchmarks feed the model so). */
  add(e: RawEvent): void {
    this.agg.add(e);
    this.logEvent(e);
  }

  /** Events that say something on their own (failures, attaches, leaks) make a log line. */
  private logEvent(e: RawEvent): void {
    const line = describeEvent(e, this.attachWatched, this.vmOf);
    if (line) this.log.push(line);
  }

  /** The counters rates are kept for (see RATE_METRICS in layout.ts), and per device. */
  private counters(s: Summary): [string, number][] {
    let gets = 0;
    let puts = 0;
    for (const g of s.groups) {
      gets += g.gets;
      puts += g.puts;
    }
    const out: [string, number][] = [
      ['events', this.agg.total],
      ['map_bytes', s.dma.map_bytes],
      ['map_calls', s.dma.map_calls],
      ['unmap_bytes', s.dma.unmap_bytes],
      ['unmap_calls', s.dma.unmap_calls],
      ['gup_pages', s.gup.pages_pinned],
      ['gup_calls', s.gup.calls],
      ['group_gets', gets],
      ['group_puts', puts],
      ['dirty_walks', s.dirty.walks],
      ['faults', s.faults.reduce((n, f) => n + f.count, 0)],
    ];
    for (const [probe, n] of this.agg.perProbe) out.push([`probe:${probe}`, n]);
    for (const r of s.devices) {
      out.push([`dev:${rowKey(r)}:map_calls`, r.map_calls], [`dev:${rowKey(r)}:map_bytes`, r.map_bytes]);
    }
    return out;
  }

  /** Summarizes at the source's time, samples the rates and logs newly suspected leaks. */
  view(state: { paused: boolean; ended: boolean; cpuPct: number }): View {
    const nowNs = this.src.now();
    const endNote = state.ended ? this.src.endNote?.() : undefined;
    if (endNote && !this.endLogged) {
      this.endLogged = true;
      this.log.push({ ts_ns: nowNs, level: 'error', text: `replay ended: ${endNote.detail}` });
    }
    const summary = this.agg.summary(nowNs, { maxListed: MAX_LISTED_REFS });
    const refCounts = this.agg.groupCounts(nowNs);
    this.rates.sample(nowNs, this.counters(summary));
    // As RateTracker does: the first sample is the base, one that does not move time is dropped.
    if (this.lastSampleNs >= 0 && nowNs > this.lastSampleNs) {
      this.sampleTimes.push(nowNs);
      if (this.sampleTimes.length > this.rates.capacity) this.sampleTimes.splice(0, this.sampleTimes.length - this.rates.capacity);
    }
    if (nowNs > this.lastSampleNs) this.lastSampleNs = nowNs;
    for (const g of summary.groups) {
      for (const l of g.leaked) {
        const key = `${g.group}:${nowNs - l.age_ns}:${l.taker}`;
        if (this.seenLeaks.has(key)) continue;
        this.seenLeaks.add(key);
        // Bounded like the lists: the oldest keys go first (a Set keeps insertion order).
        if (this.seenLeaks.size > MAX_SEEN_LEAKS) this.seenLeaks.delete(this.seenLeaks.values().next().value!);
        this.log.push({ ts_ns: nowNs, level: 'error', text: `suspected leak: group ${g.group} reference taken by ${l.taker} (${l.comm}[${l.pid}]) never put` });
      }
    }
    return {
      kind: this.src.kind,
      host: this.src.host,
      kernel: this.src.kernelRelease,
      probes: this.src.probes,
      nowNs,
      events: this.agg.total,
      lost: this.src.lost(),
      summary,
      refCounts,
      agg: this.agg,
      detail: { mapLatency: this.agg.perDevice.mapLatency, pinned: this.agg.perDevice.pinned },
      rates: this.rates,
      sampleTimes: this.sampleTimes,
      log: this.log,
      endNote,
      ...state,
    };
  }
}
