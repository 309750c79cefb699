import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorOf } from '../bench/lab-overhead';
import type { FloorRun } from '../bench/lab-overhead-guest';

test('the floor figure: each tool\'s fastest round minus the fastest bare round, so a round the host slowed does not count', () => {
  const runs: FloorRun[] = [
    // Round 2's bare run and round 3's export run were slowed by the host.
    ...[100, 180, 101].map((ns, i) => ({ tool: 'none', round: i + 1, nsPerRound: ns })),
    ...[110, 111, 190].map((ns, i) => ({ tool: 'empty', round: i + 1, nsPerRound: ns })),
    ...[130, 131, 400].map((ns, i) => ({ tool: 'iommutrace export', round: i + 1, nsPerRound: ns })),
    ...[140, 145, 141].map((ns, i) => ({ tool: 'bpftrace', round: i + 1, nsPerRound: ns })),
  ];
  const f = floorOf(runs, { 'iommutrace export': 5 });
  assert.equal(f.added.empty.value, 10);
  assert.equal(f.added['iommutrace export'].value, 30);
  assert.equal(f.ratio, 3);
  assert.equal(f.bpftraceRatio, 30 / 40);
  // Each round's own difference, beside it: round 2's slow bare run makes a tool look faster than nothing.
  assert.deepEqual([f.added.empty.min, f.added.empty.median, f.added.empty.max], [-69, 10, 89]);
  assert.deepEqual(f.none, { median: 101, min: 100, max: 180 });
});
