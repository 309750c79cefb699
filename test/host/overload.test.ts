import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfObject, RingBuffer } from '../../src/loader';
import { BPF_OBJECT, isRoot, need, tracefs } from '../helpers';

test('a producer faster than the consumer: lost equals produced minus received, exactly', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const obj = BpfObject.open(BPF_OBJECT, { tracefs: tracefs() });
  t.after(() => obj.close());
  const burst = 4096;
  obj.disableAll();
  obj.setAutoload('selftest_getppid', true);
  obj.setConstants({ it_cfg_target_tgid: process.pid, it_cfg_selftest_burst: burst });
  obj.setMaxEntries('it_events', 256 << 10); // a small ring: about 4,000 records
  await obj.load();
  obj.attach('selftest_getppid', 'tracepoint', 'syscalls:sys_enter_getppid');
  let received = 0;
  const ring = new RingBuffer(obj.map('it_events'), (b) => (received += b.count));
  t.after(() => ring.close());
  // The consumer cannot run while this loop does: the ring overflows.
  const calls = 50;
  for (let i = 0; i < calls; i++) void process.ppid;
  ring.drain();
  const counters = obj.map('it_counters');
  const lost = Number(counters.sumU64(counters.lookup(Buffer.alloc(4))!));
  const produced = calls * burst;
  assert.ok(lost > 0, 'the ring overflowed');
  assert.ok(received > 0, 'some records got through');
  assert.equal(received + lost, produced);
});
