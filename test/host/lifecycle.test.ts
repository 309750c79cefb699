import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfObject, native } from '../../src/loader';
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
  const inUse = () => native().mallocInUse();
  if (!need(t, inUse() !== undefined, 'needs glibc 2.33+ to read what the C allocator has out')) return;
  const dir = tracefs();
  // Warm up caches (vmlinux BTF, code paths) before taking the baseline.
  for (let i = 0; i < 10; i++) await cycle(dir);
  global.gc?.();
  const fds = openFds();
  // What libbpf and the addon hold is read from the C allocator (bytes out, every arena),
  // not from the resident size: glibc keeps freed memory and gives it back in steps of
  // tens of MiB (libbpf parses the 5.5 MB vmlinux BTF at every load), which moved the
  // resident floor by 10 MiB between blocks with nothing leaking. One object or BTF kept
  // per cycle is MiBs a cycle; the bound, 2 MiB over the last half, is 20 KiB a cycle.
  const before: number[] = [];
  const half = async () => {
    for (let i = 0; i < ROUNDS / 2; i++) await cycle(dir);
    global.gc?.();
    before.push(inUse()! / 2 ** 20);
  };
  await half();
  await half();
  assert.equal(openFds(), fds, 'file descriptors leaked');
  const grownMb = before[1] - before[0];
  t.diagnostic(`C allocator MiB out after ${ROUNDS / 2} and ${ROUNDS} cycles: ${before.map((x) => x.toFixed(2)).join(', ')}`);
  assert.ok(grownMb < 2, `the C allocator holds ${grownMb.toFixed(2)} MiB more after ${ROUNDS / 2} more cycles (MiB: ${before.map((x) => x.toFixed(2)).join(' -> ')})`);
});
