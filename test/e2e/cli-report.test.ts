import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { readCaptureFile } from '../../src/capture/reader';
import { CATALOGUE } from '../../src/probes/catalogue';
import { isRoot, need } from '../helpers';
import { cli } from './cli';

test('record --probes: the probes left out are in the header and the report as not requested; unwatched paths say so', (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cli-report-')), 'some.iotrace');
  const r = cli(['record', '-o', file, '-d', '1s', '--probes', 'iommu.map']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 of 1 probes attached/);
  const header = readCaptureFile(file).header;
  assert.equal(header.probes.length, CATALOGUE.filter((s) => !s.optIn).length, 'every probe is in the header');
  const unmap = header.probes.find((p) => p.name === 'iommu.unmap')!;
  assert.equal(unmap.status, 'unavailable');
  assert.equal(unmap.reasonCode, 'not_requested');

  const json = cli(['report', file, '--json']);
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as Report;
  const listed = report.probes.find((p) => p.name === 'iommu.unmap');
  assert.deepEqual([listed?.status, listed?.reason_code], ['unavailable', 'not_requested']);
  for (const s of ['gup', 'pins', 'dirty', 'groups']) assert.ok(report.not_watched.includes(s), `${s} is not watched: ${report.not_watched}`);
  assert.ok(!report.not_watched.includes('dma'), 'iommu.map watched DMA');
  assert.equal(report.gup.calls, 0, 'the numbers stay in the JSON');

  const text = cli(['report', file]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /^GUP\n {2}not watched/m);
  assert.match(text.stdout, /not requested \(--probes\): .*iommu\.unmap/);
});
