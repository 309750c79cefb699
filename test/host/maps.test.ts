import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCounter, readCounters, readHistograms } from '../../src/events/maps';
import { PROBES } from '../../src/generated/bpf';
import { BpfObject, RingBuffer } from '../../src/loader';
import { BPF_OBJECT, isRoot, need, tracefs } from '../helpers';

test('the typed map readers read the kernel: lost records, histogram buckets of the selftest probes', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const obj = BpfObject.open(BPF_OBJECT, { tracefs: tracefs() });
  t.after(() => obj.close());
  obj.disableAll();
  obj.setAutoload('selftest_getppid', true);
  obj.setAutoload('selftest_hist', true);
  obj.setConstants({ it_cfg_target_tgid: process.pid, it_cfg_selftest_burst: 4096 });
  obj.setMaxEntries('it_events', 256 << 10); // overflows: some records are lost
  await obj.load();
  obj.attach('selftest_getppid', 'tracepoint', 'syscalls:sys_enter_getppid');
  obj.attach('selftest_hist', 'tracepoint', 'syscalls:sys_enter_getppid');
  let received = 0;
  const ring = new RingBuffer(obj.map('it_events'), (b) => (received += b.count));
  t.after(() => ring.close());
  const calls = 50;
  for (let i = 0; i < calls; i++) void process.ppid;
  ring.drain();
  const lost = readCounter(obj, 'ringbuf_lost');
  assert.ok(lost > 0);
  assert.equal(received + lost, calls * 4096);
  assert.equal(readCounters(obj).ringbuf_lost, lost);
  const hist = readHistograms(obj).filter((b) => b.probe === PROBES['selftest.hist']);
  assert.equal(hist.reduce((n, b) => n + b.count, 0), calls, 'one histogram update per call');
  assert.ok(hist.every((b) => b.group_id === -1));
});
