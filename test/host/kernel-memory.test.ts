import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import { test } from 'node:test';
import { BpfObject } from '../../src/loader';
import { loadedMapMemory, sizeForHost } from '../../src/probes/kernel-memory';
import { BPF_OBJECT, isRoot, need, tracefs } from '../helpers';

test('the maps as this kernel counts them: preallocated ones at their full size, the per-CPU tables empty until keys come', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const obj = BpfObject.open(BPF_OBJECT, { tracefs: tracefs() });
  try {
    obj.disableAll();
    obj.setAutoload('selftest_getppid', true);
    sizeForHost(obj);
    await obj.load();
    const maps = loadedMapMemory(obj);
    t.diagnostic(maps.map((m) => `${m.map} ${m.kernelBytes} of ${m.fullBytes}`).join(', '));
    const [major, minor] = os.release().split('.').map(Number);
    if (!need(t, major * 1000 + minor >= 6004, 'the kernel counts what maps allocate from 6.4 on')) return;
    // Where everything is allocated at once, the full size is the kernel's count within 2 % (the LRU keeps a few lists more).
    for (const m of maps.filter((x) => ['it_events', 'it_domain_group', 'it_freed', 'it_requesters'].includes(x.map))) {
      assert.ok(Math.abs(m.kernelBytes! - m.fullBytes) <= m.fullBytes / 50, `${m.map}: the kernel counts ${m.kernelBytes}, full ${m.fullBytes}`);
    }
    for (const m of maps.filter((x) => x.onDemand && x.perThreadBytes === undefined)) assert.ok(m.kernelBytes! < m.fullBytes / 10, `${m.map}: ${m.kernelBytes} allocated with no key`);
    // The in-flight slots are the threads': the map itself holds none, full or not.
    const inflight = maps.find((x) => x.map === 'it_inflight')!;
    assert.deepEqual([inflight.fullBytes, inflight.perThreadBytes], [0, 200]);
  } finally {
    obj.close();
  }
});
