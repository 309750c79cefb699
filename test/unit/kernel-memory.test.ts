import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfObject } from '../../src/loader';
import { mapMemory, scaledEntries } from '../../src/probes/kernel-memory';
import { BPF_OBJECT } from '../helpers';

/** The object's maps as built (opened, not loaded: no privilege needed). */
function shapes() {
  const obj = BpfObject.open(BPF_OBJECT);
  try {
    return obj.mapInfo();
  } finally {
    obj.close();
  }
}

test('every map of the object, full, fits in 16 MB up to 256 possible CPUs; small hosts keep the built-in capacities', () => {
  const maps = shapes();
  const built = new Map(maps.map((m) => [m.name, m.maxEntries]));
  for (const cpus of [1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256]) {
    const full = mapMemory(maps, cpus).reduce((n, m) => n + m.fullBytes, 0);
    assert.ok(full <= 16e6, `${cpus} CPUs: ${full} bytes when full`);
  }
  assert.deepEqual(scaledEntries(maps, 2), new Map([['it_hist', built.get('it_hist')], ['it_agg', built.get('it_agg')]]));
  // Past the budget's reach a table keeps a floor of keys rather than shrink to nothing.
  for (const n of scaledEntries(maps, 4096).values()) assert.equal(n, 128);
  // Only the per-CPU tables scale, and they allocate as keys come.
  const at256 = mapMemory(maps, 256);
  for (const m of at256) {
    if (m.map === 'it_agg' || m.map === 'it_hist') {
      assert.ok(m.onDemand && m.maxEntries < built.get(m.map)!, `${m.map}: ${m.maxEntries} keys on demand`);
    } else assert.equal(m.maxEntries, built.get(m.map), m.map);
  }
  // As built (no scaling, preallocated), 256 CPUs would pin over 130 MB.
  const asBuilt = maps.map((m) => ({ ...m, flags: 0, maxEntries: built.get(m.name)! }));
  const perCpuFull = asBuilt.filter((m) => m.name === 'it_agg' || m.name === 'it_hist').reduce((n, m) => n + m.maxEntries * (m.valueSize * 256), 0);
  assert.ok(perCpuFull > 130e6, `${perCpuFull}`);
});
