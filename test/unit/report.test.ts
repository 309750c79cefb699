import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { vfioLike, writeCapture } from '../bench/synthetic';

test('report: JSON totals from a capture, and text with funclatency-style histograms', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'report-')), 'r.iotrace');
  writeCapture(file, ['iommu.map', 'iommu.unmap'], vfioLike(2048));
  const r = buildReport(file);
  assert.equal(r.events.total, 2048);
  assert.equal(r.dma.map_calls, 2048 - 4);
  assert.equal(r.dma.map_bytes, (2048 - 4) * 4096);
  assert.equal(r.dma.unmap_calls, 4);
  const hist = r.latency_histograms['iommu.map'];
  assert.equal(hist.reduce((n, b) => n + b.count, 0), r.latency['iommu.map'].count);
  const text = renderReport(r);
  assert.match(text, /^iommu\.map latency$/m);
  assert.match(text, /nsecs\s+: count\s+distribution/);
  assert.match(text, /512 -> 1023\s+: \d+\s+\|\*+\s*\|/);
  assert.match(text, /unknown \(domain 0xffff888104a3c000\)/, 'DMA into a domain never seen attached is shown, not dropped');
});
