import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { probesAtEnd, probesThatRan } from '../../src/capture/header';
import type { CaptureHeader, CaptureProbe, Snapshot } from '../../src/capture/types';
import { ModuleWatch, readModuleLines } from '../../src/source/module-watch';

function lines(text: string): ReturnType<typeof readModuleLines> {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'modules-')), 'modules');
  fs.writeFileSync(f, text);
  return readModuleLines(f);
}

const VFIO = 'vfio 40960 2 vfio_iommu_type1, Live 0xffffffffc0800000\n';
const TYPE1 = (state: string, addr: string) => `vfio_iommu_type1 45056 0 - ${state} ${addr}\n`;

test('/proc/modules: a module counts as loaded once live, as gone when absent or back at another address', () => {
  const w = new ModuleWatch(lines(VFIO));
  assert.deepEqual(w.look(lines(VFIO)), { gone: [], loaded: [] }, 'nothing changed');
  // Still running its init: fentry could not target it yet.
  assert.deepEqual(w.look(lines(VFIO + TYPE1('Loading', '0xffffffffc0900000'))), { gone: [], loaded: [] });
  assert.deepEqual(w.look(lines(VFIO + TYPE1('Live', '0xffffffffc0900000'))), { gone: [], loaded: ['vfio_iommu_type1'] });
  assert.deepEqual(w.look(lines(VFIO + TYPE1('Unloading', '0xffffffffc0900000'))), { gone: [], loaded: [] });
  assert.deepEqual(w.look(lines(VFIO)), { gone: [{ module: 'vfio_iommu_type1', reloaded: false }], loaded: [] });
  w.look(lines(VFIO + TYPE1('Live', '0xffffffffc0900000')));
  // Unloaded and loaded again between two looks: gone, and loaded.
  assert.deepEqual(w.look(lines(VFIO + TYPE1('Live', '0xffffffffc0a00000'))), { gone: [{ module: 'vfio_iommu_type1', reloaded: true }], loaded: ['vfio_iommu_type1'] });
  // Without CAP_SYSLOG every address reads 0: a reload between two looks cannot be told.
  const hidden = new ModuleWatch(lines(TYPE1('Live', '0x0000000000000000')));
  assert.deepEqual(hidden.look(lines(TYPE1('Live', '0x0000000000000000'))), { gone: [], loaded: [] });
  assert.equal(readModuleLines('/nonexistent/modules').size, 0);
});

const probe = (name: string, status: string, extra: Partial<CaptureProbe> = {}): CaptureProbe => ({
  name, target: '', mode: '', status, reason: '', module: 'vfio_iommu_type1', lacks: [], reasonCode: '', ...extra,
});
const snapshot = (tsNs: number, extra: Partial<Snapshot>): Snapshot => ({ tsNs, hist: [], counters: [], probeStats: [], ...extra });

test('a capture: probes attached when their module loaded and detached when unloaded, as the snapshots say, in order', () => {
  const header = { probes: [probe('vfio.pin', 'unavailable', { reasonCode: 'module_not_loaded' }), probe('iommu.map', 'attached', { module: '' }), probe('vfio.unpin', 'attached')] } as CaptureHeader;
  const attached = probe('vfio.pin', 'attached', { mode: 'kretprobe', target: 'vfio_pin_pages_remote', reason: '' });
  const detached = probe('vfio.pin', 'detached', { mode: 'kretprobe', reason: 'module vfio_iommu_type1 was unloaded 9.0 s into the session', reasonCode: 'detached' });
  const snaps = [snapshot(5e9, { probes: [attached] }), snapshot(9e9, { probes: [detached] })];
  const end = new Map(probesAtEnd(header, snaps).map((p) => [p.name, p]));
  assert.equal(end.get('vfio.pin')?.status, 'detached');
  assert.equal(end.get('iommu.map')?.status, 'attached');
  assert.deepEqual([...probesThatRan(header, snaps)].sort(), ['iommu.map', 'vfio.pin', 'vfio.unpin'], 'a probe that ran for a while counts as having run');
  assert.equal(new Map(probesAtEnd(header, snaps.slice(0, 1)).map((p) => [p.name, p])).get('vfio.pin')?.mode, 'kretprobe');
  // Captures before 0.5.0: the counter probe_detached:NAME.
  const old = probesAtEnd(header, [snapshot(7e9, { counters: [{ name: 'probe_detached:vfio.unpin', value: 7e9 }] })]);
  assert.equal(old.find((p) => p.name === 'vfio.unpin')?.reason, 'module vfio_iommu_type1 was unloaded 7.0 s into the capture');
});
