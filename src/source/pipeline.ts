import { Aggregator } from '../aggregate/engine';
import type { RawEvent } from '../events/types';
import type { CallsSink, EventSource } from './source';

export interface PipelineOptions {
  /** References held longer than this are listed as held or leaked. */
  leakAgeNs: number;
  /**
   * Hand over summed what the kernel sums (top, export): live in aggregated mode
   * the kernel does; a replay sums as it plays. Off: every event one by one
   * (report, the per-event reference).
   */
  summed: boolean;
  /** Check mode: a second aggregator fed every event, the summed ones too (export --check-aggregation). */
  twin?: boolean;
  /** Sees each event handed over one by one, after the aggregator (iommutop's log). */
  onEvent?: (e: RawEvent) => void;
  /** Check mode: each event and whether the kernel summed it. */
  onEveryEvent?: (e: RawEvent, summed: boolean) => void;
}

/**
 * The one way a source reaches the aggregator, for every consumer: iommutop,
 * the export agent and the report, live and replayed alike. Source -> decode ->
 * aggregate; the sinks read `agg`.
 */
export class Pipeline {
  agg: Aggregator;
  readonly twin?: Aggregator;

  constructor(
    readonly source: EventSource,
    private readonly opts: PipelineOptions,
  ) {
    this.agg = this.aggregator();
    if (opts.twin) this.twin = this.aggregator();
  }

  /** An aggregator for the source's probes, symbols, devices and processes. */
  private aggregator(): Aggregator {
    const src = this.source;
    return new Aggregator({
      attached: src.attached,
      symbolize: (a) => src.symbolize(a),
      leakAgeNs: this.opts.leakAgeNs,
      hostDevices: src.hostDevices,
      // Asked at summary time: a capture's facts are read with the whole file.
      processFacts: (pid) => src.processFacts?.(pid),
      processFactsOverflow: () => src.processFactsUnread?.() ?? 0,
    });
  }

  /** Every count starts over (iommutop's `r`). */
  reset(): void {
    this.agg = this.aggregator();
  }

  /** Starts the source; `onEnd` fires when a replay runs out. */
  start(onEnd?: () => void): void {
    const { onEvent, onEveryEvent } = this.opts;
    const twin = this.twin;
    // Probes attaching as their modules load: the aggregators count from them too.
    this.source.onProbeChange?.(() => {
      this.agg.probesAttached(this.source.attached);
      twin?.probesAttached(this.source.attached);
    });
    const sink: CallsSink | undefined = this.opts.summed
      ? {
          addCalls: (c) => this.agg.addCalls(c),
          everyEvent:
            twin || onEveryEvent
              ? (e, summed) => {
                  twin?.add(e);
                  onEveryEvent?.(e, summed);
                }
              : undefined,
        }
      : undefined;
    this.source.start(
      onEvent
        ? (e) => {
            this.agg.add(e);
            onEvent(e);
          }
        : (e) => this.agg.add(e),
      onEnd,
      sink,
    );
  }
}
