import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { readCaptureFile } from '../../src/capture/reader';
import { CATALOGUE } from '../../src/probes/catalogue';
import { CLI, isRoot, need } from '../helpers';
import { cli, hasStackTrace } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-e2e-'));

test('record on this kernel writes a valid capture whose header lists every probe with its status and reason', (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(tmp, 'host.iotrace');
  const r = cli(['record', '-o', file, '-d', '1s']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*host\.iotrace: \d+ events, 0 lost/);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const c = readCaptureFile(file);
  assert.equal(c.cut, false);
  assert.equal(c.trailer?.stopReason, 'duration');
  const names = c.header.probes.map((p) => p.name);
  for (const spec of CATALOGUE.filter((s) => !s.optIn)) assert.ok(names.includes(spec.name), spec.name);
  for (const p of c.header.probes) {
    assert.ok(['attached', 'unavailable'].includes(p.status), `${p.name}: ${p.status}`);
    if (p.status === 'unavailable') assert.ok(p.reason.length > 10, `${p.name} has a reason`);
  }
  assert.ok(c.header.probes.some((p) => p.name === 'iommu.map' && p.status === 'attached'));
  const rep = cli(['report', file, '--json']);
  assert.equal(rep.status, 0, rep.stderr);
  const report = JSON.parse(rep.stdout) as Report;
  assert.equal(report.format, 'iommutrace-report/1');
  assert.equal(report.events.lost, 0);
  assert.equal(report.capture.kernel.release, os.release());
});

test('record stopped by SIGINT leaves a complete file', async (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(tmp, 'sigint.iotrace');
  const child = spawn(process.execPath, [CLI, 'record', '-o', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  // Wait until it says it is recording, then interrupt.
  while (!/recording to/.test(err)) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  const c = readCaptureFile(file);
  assert.equal(c.cut, false);
  assert.equal(c.trailer?.stopReason, 'SIGINT');
});

test('record refuses to overwrite an existing file without --force and leaves it untouched', () => {
  const file = path.join(tmp, 'exists.iotrace');
  fs.writeFileSync(file, 'keep me');
  const r = cli(['record', '-o', file, '-d', '1s']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists; use --force/);
  assert.ok(!hasStackTrace(r.stderr));
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
});

test('report on a file that is not a capture: one line, non-zero exit', () => {
  const file = path.join(tmp, 'junk.iotrace');
  fs.writeFileSync(file, 'this is not a capture at all');
  const r = cli(['report', file]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /not an iommutrace capture/);
  const missing = cli(['report', path.join(tmp, 'nope.iotrace')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file/);
});

test('bad durations are refused in one line', () => {
  const r = cli(['record', '-d', 'soon', '-o', path.join(tmp, 'x.iotrace')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid duration "soon"/);
  assert.ok(!hasStackTrace(r.stderr));
});
