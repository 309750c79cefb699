/**
 * iommutop plays a replay on a tick a quarter of its redraw and asks for what is
 * due before each redraw (flush): the events it hands over are the same, in the
 * same order, only their runs are longer.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader';
import { RawEvent } from '../../src/events/types';
import { ReplaySource, replayTickMs } from '../../src/source/replay';
import { vfioLike, writeCapture } from '../bench/synthetic';

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'replay-flush-')), 'seconds.iotrace');
// One event a second of capture time: what is due depends on the clock only through `now()`.
writeCapture(file, ['iommu.map', 'iommu.unmap'], [...vfioLike(50)].map((e, i) => ({ ...e, ts_ns: (i + 1) * 1e9 })));
const all: RawEvent[] = [];
readCaptureFile(file, { onEvent: (e) => all.push(e) });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the tick is a quarter of the redraw, never under the default 50 ms', () => {
  assert.equal(replayTickMs(1000), 250);
  assert.equal(replayTickMs(100), 50);
});

test('flush hands over exactly the events due by now, in order; paused, nothing', async () => {
  // A tick far away: only flush plays.
  const replay = new ReplaySource(file, { speed: 100, tickMs: 3_600_000 });
  const played: RawEvent[] = [];
  replay.start((e) => played.push(e));
  try {
    await sleep(25); // 2.5 s of capture time at speed 100
    replay.flush();
    assert.ok(played.length >= 2, `${played.length} played`);
    assert.deepEqual(played, all.slice(0, played.length));
    assert.ok(played[played.length - 1].ts_ns <= replay.now());
    assert.ok(all[played.length].ts_ns > replay.now(), 'the next event is not due yet');
    replay.pause();
    const before = played.length;
    await sleep(25);
    replay.flush();
    assert.equal(played.length, before);
  } finally {
    replay.stop();
  }
});

test('as fast as possible, flush leaves the playing to the ticks', async () => {
  const replay = new ReplaySource(file, { speed: 0 });
  const played: RawEvent[] = [];
  await new Promise<void>((resolve) => {
    replay.start((e) => played.push(e), resolve);
    replay.flush();
    assert.equal(played.length, 0);
  });
  assert.deepEqual(played, all);
});
