/** The reference ledger's compact storage: references in columns, stacks interned once. */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefList } from '../../src/aggregate/ref-list';
import { SiteTable } from '../../src/aggregate/sites';

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
