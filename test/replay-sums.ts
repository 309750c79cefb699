/**
 * A capture replayed summed (as top and export play it: ReplaySums) and one event
 * at a time: the dashboard's model and the exporter's tables must come out the
 * same. Shared by the unit test (a synthetic VMM) and the lab ground-truth test
 * (every lab capture).
 */
import * as assert from 'node:assert/strict';
import { exportDump } from '../src/export/dump';
import { RawEvent } from '../src/events/types';
import { ReplaySource } from '../src/source/replay';
import { Model } from '../src/tui/model';

/**
 * What the one aggregator (as iommutop shows it and the exporter exports it)
 * makes of the whole replay, with or without the sums; `watch` sees each event
 * handed over one by one.
 */
export async function replayState(file: string, summed: boolean, watch?: (e: RawEvent) => void) {
  const src = new ReplaySource(file, { speed: 0 });
  const handed = { events: 0, deltas: 0, latency: 0 };
  // Counts what the source hands over: events one by one, sums, their latency buckets.
  const start = src.start.bind(src);
  src.start = (onEvent, onEnd, sink) =>
    start(
      (e) => {
        handed.events++;
        watch?.(e);
        onEvent(e);
      },
      onEnd,
      summed && sink
        ? {
            addCalls(c) {
              if (c.calls > 0) handed.deltas++;
              handed.latency += c.buckets?.length ?? 0;
              sink.addCalls(c);
            },
          }
        : undefined,
    );
  const model = new Model(src, 0);
  await new Promise<void>((resolve) => model.start(resolve));
  const view = model.view({ paused: false, ended: true, cpuPct: 0 });
  // Histograms' least values are kept exactly one by one and as bucket bounds summed (shown
  // nowhere); one made at a key's first call rather than at its first latency may come earlier.
  const hists = (m: Map<string, { counts: Float64Array; count: number; sum: number; max: number }>) =>
    [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, h]) => [k, Array.from(h.counts), h.count, h.sum, h.max]);
  return {
    handed,
    played: src.events,
    summary: view.summary,
    log: view.log.entries,
    rates: [...view.agg.perProbe],
    detail: hists(view.detail.mapLatency),
    pinned: [...view.detail.pinned],
    dump: exportDump(view.agg, src.now(), src.lost()),
  };
}

/** Replays `file` both ways and asserts every table equal; returns both states. */
export async function assertSumsAgree(file: string): Promise<{ one: ReplayState; sum: ReplayState }> {
  const one = await replayState(file, false);
  const sum = await replayState(file, true);
  assert.equal(sum.played, one.played, 'events played');
  assert.equal(one.handed.deltas, 0, 'without a sink nothing is summed');
  assert.deepEqual(sum.summary, one.summary, `${file}: the summary`);
  assert.deepEqual(sum.dump, one.dump, `${file}: the export dump`);
  assert.deepEqual(sum.log, one.log, `${file}: the event log`);
  assert.deepEqual(sum.rates, one.rates, `${file}: events per probe`);
  assert.deepEqual(sum.detail, one.detail, `${file}: map latency per device`);
  assert.deepEqual(sum.pinned, one.pinned, `${file}: pages pinned per device`);
  return { one, sum };
}

export type ReplayState = Awaited<ReturnType<typeof replayState>>;
