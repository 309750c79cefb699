import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Calls } from '../../src/aggregate/calls';
import { RawEvent } from '../../src/events/types';
import { LiveSource } from '../../src/source/live';
import { isRoot, need } from '../helpers';

/** getppid() n times: each is one call of the selftest probe (a tracepoint). */
function getppid(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid;
}

async function open(checkAggregation: boolean): Promise<{ src: LiveSource; ring: RawEvent[]; every: RawEvent[]; deltas: Calls[] }> {
  const src = await LiveSource.open({ recordAll: false, checkAggregation, select: (n) => n === 'selftest.getppid', targetTgid: process.pid, selftestBurst: 3 });
  const out = { src, ring: [] as RawEvent[], every: [] as RawEvent[], deltas: [] as Calls[] };
  src.start((e) => out.ring.push(e), undefined, { addCalls: (c) => c.calls > 0 && out.deltas.push(c), everyEvent: (e) => out.every.push(e) });
  return out;
}

test('aggregated mode on this kernel: calls are summed in the kernel, none through the ring, each counted once over reads', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const { src, ring, every, deltas } = await open(false);
  try {
    getppid(1000);
    src.flush();
    assert.equal(deltas.length, 1);
    assert.equal(deltas[0].calls, 3000, 'a burst of 3 per call, summed over every CPU the thread ran on');
    assert.equal(deltas[0].pid, process.pid);
    src.flush();
    assert.equal(deltas.length, 1, 'nothing new: no delta');
    getppid(500);
  } finally {
    src.stop(); // the last read, after the programs are detached
  }
  assert.equal(deltas.length, 2);
  assert.equal(deltas[1].calls, 1500);
  assert.equal(src.events, 4500);
  assert.deepEqual([ring.length, every.length], [0, 0]);
  assert.ok(deltas[1].last_ns > deltas[0].last_ns && deltas[1].first_ns === deltas[0].first_ns);
});

test('check mode on this kernel: the summed calls also come through the ring, marked, and only to everyEvent', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const { src, ring, every, deltas } = await open(true);
  try {
    getppid(700);
  } finally {
    src.stop();
  }
  assert.equal(deltas.reduce((n, d) => n + d.calls, 0), 2100);
  assert.equal(every.length, 2100);
  assert.ok(every.every((e) => e.kind === 'selftest' && e.probe === 'selftest.getppid'), 'the mark is taken off before decoding');
  assert.equal(ring.length, 0);
});
