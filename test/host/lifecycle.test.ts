import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfObject } from '../../src/loader';
import { BPF_OBJECT, isRoot, need, openFds, tracefs } from '../helpers';

const ROUNDS = 200;

async function cycle(dir: string): Promise<void> {
  const obj = BpfObject.open(BPF_OBJECT, { tracefs: dir });
  obj.disableAll();
  obj.setAutoload('selftest_getppid', true);
  await obj.load();
  obj.attach('selftest_getppid', 'tracepoint', 'syscalls:sys_enter_getppid');
  obj.map('it_counters').lookup(Buffer.alloc(4));
  obj.close();
}

test(`open, load, attach and close ${ROUNDS} times: fds and memory stay flat`, async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const dir = tracefs();
  // Warm up caches (vmlinux BTF, code paths) before taking the baseline.
  for (let i = 0; i < 10; i++) await cycle(dir);
  global.gc?.();
  const fds = openFds();
  const rss = process.memoryUsage().rss;
  for (let i = 0; i < ROUNDS; i++) await cycle(dir);
  global.gc?.();
  const grownMb = (process.memoryUsage().rss - rss) / 2 ** 20;
  assert.equal(openFds(), fds, 'file descriptors leaked');
  assert.ok(grownMb < 16, `resident memory grew by ${grownMb.toFixed(1)} MiB over ${ROUNDS} cycles`);
});
