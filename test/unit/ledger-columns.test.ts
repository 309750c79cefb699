/** The reference ledger's compact storage: references in columns, stacks interned once. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { RefList } from '../../src/aggregate/ref-list';
import { SiteTable } from '../../src/aggregate/sites';
import { RawEvent } from '../../src/events/types';

test('a reference list keeps its order through removals and gives memory back after mass puts', () => {
  const l = new RefList();
  for (let i = 0; i < 1000; i++) l.push(1e18 + i * 1024, 100 + i, 200 + i, i % 7);
  assert.equal(l.length, 1000);
  assert.equal(l.capacity, 1024);
  l.removeAt(500);
  assert.deepEqual([l.tsAt(499), l.tsAt(500)], [1e18 + 499 * 1024, 1e18 + 501 * 1024], 'times beyond 2^53 ns apart stay distinct doubles');
  assert.deepEqual([l.pidAt(500), l.tidAt(500), l.siteAt(500)], [601, 701, 501 % 7]);
  while (l.length > 10) l.removeAt(l.length - 1);
  assert.ok(l.capacity <= 64, `capacity ${l.capacity} after shrinking to 10`);
  assert.deepEqual([l.pidAt(9), l.tidAt(9)], [109, 209]);
});

test('a site is stored once per stack and command; 64-bit frames come back exact', () => {
  const t = new SiteTable(100);
  const stack = [0xffffffff81234567n, 0xffffffffc0a01000n, 0x1n];
  const a = t.intern(stack, 'qemu');
  assert.equal(t.intern([...stack], 'qemu'), a);
  const b = t.intern(stack, 'vfio-test');
  assert.notEqual(b, a, 'another command is another site');
  assert.notEqual(t.intern(stack.slice(0, 2), 'qemu'), a, 'a prefix is another stack');
  assert.deepEqual(t.frames(a), stack);
  assert.equal(t.comm(b), 'vfio-test');
  assert.equal(t.size, 3);
});

test('the site table is bounded: past it a new site is counted and not stored, known ones still found', () => {
  const t = new SiteTable(1000);
  const ids = Array.from({ length: 1500 }, (_, i) => t.intern([0xffffffff81000000n + BigInt(i) * 8n, 0xffffffff81100000n], 'storm'));
  assert.deepEqual(ids.slice(0, 1000), Array.from({ length: 1000 }, (_, i) => i));
  assert.ok(ids.slice(1000).every((id) => id === -1));
  assert.equal(t.overflow, 500);
  assert.equal(t.size, 1000);
  // Every stored site is found again by its frames (hash chains hold), and its frames are its own.
  for (let i = 0; i < 1000; i++) assert.equal(t.intern([0xffffffff81000000n + BigInt(i) * 8n, 0xffffffff81100000n], 'storm'), i);
  assert.deepEqual(t.frames(999), [0xffffffff81000000n + 999n * 8n, 0xffffffff81100000n]);
  assert.equal(t.overflow, 500);
});

test('a screen lists at most maxListed references per group and kind, the oldest; the counts stay whole', () => {
  const a = new Aggregator({ attached: new Set(['iommu.group_get']), symbolize: (x) => `leak_take+0x${x.toString(16)} [leakmod]`, leakAgeNs: 0 });
  for (let i = 0; i < 250; i++) {
    a.add({ kind: 'group_ref', ts_ns: 1000 + i, pid: 9, tid: 9, type: 0, ret: 0, comm: 'leaker', probe: 'iommu.group_get', group: 0xffff0001n, group_id: 4, nr_frames: 1, dev_name: '', stack: [0x10n] } as RawEvent);
  }
  const [g] = a.summary(5000, { maxListed: 100 }).groups;
  assert.equal(g.leaked.length, 100);
  assert.equal(g.leaked[0].age_ns, 4000, 'the oldest first');
  assert.equal(g.outstanding, 250);
  assert.deepEqual(a.groupCounts(5000).get(4), { held: 0, leaked: 250 });
  assert.equal(a.summary(5000).groups[0].leaked.length, 250, 'the report lists them all');
});
