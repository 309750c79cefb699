import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketHigh, bucketLow, bucketOf, Histogram } from '../../src/aggregate/loglinear';

/** The C function in bpf/include/hist.h, transcribed with BigInt, as the reference. */
function kernelBucket(v: bigint): number {
  if (v < 8n) return Number(v);
  const msb = v.toString(2).length - 1;
  return (msb - 3 + 1) * 8 + Number((v >> BigInt(msb - 3)) & 7n);
}

test('bucketOf agrees with the kernel bucket function, including around every power of two', () => {
  const values: bigint[] = [];
  for (let k = 0n; k < 50n; k++) for (const d of [-1n, 0n, 1n]) values.push((1n << k) + d);
  for (let v = 0n; v < 5000n; v++) values.push(v);
  for (const v of values) {
    if (v < 0n) continue;
    assert.equal(bucketOf(Number(v)), kernelBucket(v), `value ${v}`);
  }
});

test('bucket bounds contain their values and are at most 12.5% wide', () => {
  for (let b = 0; b < 400; b++) {
    const lo = bucketLow(b);
    const hi = bucketHigh(b);
    assert.equal(bucketOf(lo), b);
    assert.equal(bucketOf(hi - 1), b);
    if (b >= 8) assert.ok((hi - lo) / lo <= 0.125 + 1e-12, `bucket ${b} is ${(hi - lo) / lo}`);
  }
});

test('percentiles land within one bucket of the truth and never above the max', () => {
  const h = new Histogram();
  for (let i = 1; i <= 10000; i++) h.add(i * 100);
  const p = h.percentiles();
  assert.equal(p.count, 10000);
  assert.equal(p.max_ns, 1_000_000);
  for (const [q, truth] of [[0.5, 500_000], [0.9, 900_000], [0.99, 990_000]] as const) {
    const got = h.quantile(q);
    assert.ok(Math.abs(got - truth) / truth <= 0.125, `q${q}: ${got} vs ${truth}`);
  }
});

test('kernel buckets merge with user-side values', () => {
  const a = new Histogram();
  a.add(1000);
  const b = new Histogram();
  b.addBucket(bucketOf(1000), 3);
  a.merge(b);
  assert.equal(a.count, 4);
  assert.equal(a.counts[bucketOf(1000)], 4);
  const log2 = a.log2();
  assert.deepEqual(log2.find((r) => r.count > 0), { low: 512, high: 1024, count: 4 });
});
