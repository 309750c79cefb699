/**
 * A capture replayed summed (as top and export play it: ReplaySums) and one event
 * at a time: the dashboard's model and the exporter's tables must come out the
 * same. Shared by the unit test (a synthetic VMM) and the lab ground-truth test
 * (every lab capture).
 */
import * as assert from 'node:assert/strict';
import { DeviceLatency } from '../src/aggregate/device-latency';
import { Aggregator } from '../src/aggregate/engine';
import { exportDump } from '../src/export/dump';
import { RawEvent } from '../src/events/types';
import { ReplaySource } from '../src/source/replay';
import { AggregateSink } from '../src/source/source';
import { Model } from '../src/tui/model';

/**
 * What the dashboard's model and the exporter's tables make of the whole replay,
 * with or without the sums; `watch` sees each event handed over one by one.
 */
export async function replayState(file: string, summed: boolean, watch?: (e: RawEvent) => void) {
  const src = new ReplaySource(file, { speed: 0 });
  const model = new Model(src, 30e9);
  const agg = new Aggregator({ attached: src.attached, symbolize: (a) => src.symbolize(a), leakAgeNs: 0, hostDevices: src.hostDevices });
  const dl = new DeviceLatency(agg.devices);
  const handed = { events: 0, deltas: 0, latency: 0 };
  const sink: AggregateSink = {
    addDelta(d) {
      handed.deltas++;
      model.addDelta(d);
      agg.addDelta(d);
      dl.addDelta(d);
    },
    addLatency(l) {
      handed.latency++;
      model.addLatency(l);
      agg.addLatency(l);
      dl.addLatency(l);
    },
  };
  await new Promise<void>((resolve) =>
    src.start(
      (e) => {
        handed.events++;
        watch?.(e);
        model.add(e);
        agg.add(e);
        dl.add(e);
      },
      resolve,
      summed ? sink : undefined,
    ),
  );
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
    dump: exportDump(agg, dl, src.now(), src.lost()),
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
