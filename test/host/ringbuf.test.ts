import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BpfObject, RingBuffer, forEachRecord } from '../../src/loader';
import { BPF_OBJECT, isRoot, need, tracefs } from '../helpers';

const TOTAL = 1_000_000;
/** Records the first, synchronous burst puts in the ring before the consumer may run. */
const BURST = 100_000;

/** getppid() `n` times on another thread: each call is one selftest event. */
function produceOnWorker(n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(`for (let i = 0; i < ${n}; i++) process.ppid;`, { eval: true });
    w.once('error', reject);
    w.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`producer exited ${code}`))));
  });
}

test('a million ring-buffer events reach JavaScript in capped batches, none lost, the loop still turning', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const obj = BpfObject.open(BPF_OBJECT, { tracefs: tracefs() });
  t.after(() => obj.close());
  obj.disableAll();
  obj.setAutoload('selftest_getppid', true);
  obj.setConstants({ it_cfg_target_tgid: process.pid });
  obj.setMaxEntries('it_events', 64 << 20);
  await obj.load();
  obj.attach('selftest_getppid', 'tracepoint', 'syscalls:sys_enter_getppid');

  const layout = obj.btf().struct('it_ev_selftest')!;
  const seqOff = layout.fields.find((f) => f.name === 'seq')!.offset;
  let received = 0;
  let maxBatch = 0;
  let seqSum = 0;
  const ring = new RingBuffer(obj.map('it_events'), (batch) => {
    maxBatch = Math.max(maxBatch, batch.count);
    forEachRecord(batch, (off) => {
      seqSum += Number(batch.buffer.readBigUInt64LE(off + seqOff));
      received++;
    });
  });
  t.after(() => ring.close());

  // A burst lands in the ring while JS is busy; a timer armed right after must run
  // before the ring is drained, because each wakeup hands over at most 4096 records.
  for (let i = 0; i < BURST; i++) void process.ppid;
  const atTimer = await new Promise<number>((resolve) => setTimeout(() => resolve(received), 0));
  assert.ok(atTimer < BURST, `the timer only ran after the whole burst was drained (${atTimer})`);

  await produceOnWorker(TOTAL - BURST);
  const deadline = Date.now() + 60_000;
  while (received < TOTAL && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

  const counters = obj.map('it_counters');
  const lost = counters.sumU64(counters.lookup(Buffer.alloc(4))!);
  assert.equal(lost, 0n, 'events lost in the kernel');
  assert.equal(received, TOTAL);
  assert.ok(maxBatch <= 4096, `a batch held ${maxBatch} records`);
  // Every sequence number 0..TOTAL-1 arrived exactly once.
  assert.equal(seqSum, ((TOTAL - 1) * TOTAL) / 2);
});
