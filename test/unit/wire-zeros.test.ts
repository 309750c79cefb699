/**
 * The wire reader takes a packed column of one repeated byte (a value that never
 * changes in the batch: zero deltas, one kind, one string), and the zero bytes
 * that end a column whose value stops changing, by comparing them, not decoding
 * them: it must read what decoding reads.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Frame } from '../../src/capture/proto';
import { readEventsFrame } from '../../src/capture/wire';

/** An events frame's payload holding one column per entry of `columns` (values, valuesLo). */
function payload(columns: [number[], number[]][]): Buffer {
  const n = columns[0][0].length;
  const F = Frame();
  const events = { count: n, tsFirstNs: 7, tsDelta: Array(n).fill(1), kind: Array(n).fill(2), columns: columns.map(([values, valuesLo], index) => ({ kind: 2, index, values, valuesLo })) };
  return Buffer.from(F.encode(F.create({ events })).finish());
}

const zeros = (n: number): number[] => Array(n).fill(0);

test('zero columns read as zeros, beside and after columns that are not, short or long, from a Buffer or a bare Uint8Array', () => {
  for (const n of [1, 63, 64, 65, 1000]) {
    const last = [...zeros(n - 1), -5];
    const first = [3, ...zeros(n - 1)];
    const columns: [number[], number[]][] = [
      [zeros(n), zeros(n)],
      [last, zeros(n)],
      [first, last],
      [zeros(n), first],
    ];
    const p = payload(columns);
    for (const bytes of [p, new Uint8Array(p)]) {
      const b = readEventsFrame(bytes);
      assert.equal(b.count, n);
      assert.deepEqual(Array.from(b.tsDelta), Array(n).fill(1));
      assert.deepEqual(
        b.columns.map((c) => [Array.from(c.values), Array.from(c.valuesLo)]),
        columns,
        `${n} values`,
      );
    }
  }
});

test('columns of one repeated value read as that value; one different value anywhere, or a value of two bytes, is decoded', () => {
  for (const n of [64, 65, 1000, 5000]) {
    const same = (v: number) => Array(n).fill(v);
    const columns: [number[], number[]][] = [
      [same(3), same(-1)],
      [same(63), same(-64)],
      [[...same(5).slice(1), 6], [6, ...same(5).slice(1)]],
      [same(64), [...zeros(n - 1), 64]],
      [[...same(7).slice(0, n >> 1), ...zeros(n - (n >> 1))], [1, ...zeros(n - 2), 1]],
    ];
    const b = readEventsFrame(payload(columns));
    assert.deepEqual(Array.from(b.kind), Array(n).fill(2));
    assert.deepEqual(
      b.columns.map((c) => [Array.from(c.values), Array.from(c.valuesLo)]),
      columns,
      `${n} values`,
    );
  }
});
