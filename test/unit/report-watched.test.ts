import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CaptureWriter } from '../../src/capture/writer';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { header, vfioLike } from '../bench/synthetic';

function capture(probes: ReturnType<typeof header>['probes']): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'watched-')), 'w.iotrace');
  const h = header([]);
  const w = new CaptureWriter(file, { ...h, probes }, { force: true });
  for (const e of vfioLike(600)) w.add(e);
  w.close({ endNs: 0, lost: 0, stopReason: 'duration' });
  return file;
}

const probe = (name: string, status: string, reason = '', reasonCode = '') => ({ name, target: name, mode: status === 'attached' ? 'tp_btf' : '', status, reason, module: '', lacks: [], reasonCode });

test('report: sections no attached probe fed are listed as not watched, and the text says so instead of zeros', () => {
  const file = capture([
    probe('iommu.map', 'attached'),
    probe('iommu.unmap', 'attached'),
    probe('gup.fast', 'unavailable', 'kprobes are not built into this kernel (CONFIG_KPROBES off)', 'no_kprobes'),
    probe('dirty.walk', 'unavailable', 'not requested (left out by --probes)', 'not_requested'),
  ]);
  const r = buildReport(file);
  assert.deepEqual(r.not_watched, ['attaches', 'pins', 'gup', 'dirty', 'groups', 'page_faults', 'faults', 'map_failures', 'iotlb']);
  assert.ok(r.dma.map_calls > 0);
  assert.equal(r.gup.calls, 0, 'the numbers stay');
  const text = renderReport(r);
  assert.match(text, /^GUP\n {2}not watched/m);
  assert.match(text, /^PINS\n {2}not watched/m);
  assert.match(text, /^DIRTY\n {2}not watched/m);
  assert.match(text, /^GROUP REFERENCES\n {2}not watched/m);
  assert.doesNotMatch(text, /0 calls, 0 pages asked/);
  assert.match(text, /^DMA\n {2}map 59\d calls/m, 'a watched section keeps its numbers');
});

test('report: probes not requested are listed with their code, in JSON and text', () => {
  const file = capture([
    probe('iommu.map', 'attached'),
    probe('iommu.unmap', 'unavailable', 'not requested (left out by --probes)', 'not_requested'),
    probe('gup.fast', 'unavailable', 'kprobes are not built into this kernel (CONFIG_KPROBES off)', 'no_kprobes'),
  ]);
  const r = buildReport(file);
  const unmap = r.probes.find((p) => p.name === 'iommu.unmap')!;
  assert.equal(unmap.status, 'unavailable');
  assert.equal(unmap.reason_code, 'not_requested');
  assert.equal(r.probes.find((p) => p.name === 'gup.fast')!.reason_code, 'no_kprobes');
  assert.equal(r.probes.find((p) => p.name === 'iommu.map')!.reason_code, null);
  const text = renderReport(r);
  assert.match(text, /^probes {4}1 attached, 1 unavailable, 1 not requested/m);
  assert.match(text, /not requested \(--probes\): iommu\.unmap/);
});
