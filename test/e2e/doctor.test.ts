import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DoctorReport } from '../../src/commands/doctor';
import { isRoot, need } from '../helpers';
import { cli, hasStackTrace } from './cli';

test('doctor --json on this kernel: every probe with a status, and a reason for each unavailable one', (t) => {
  if (!need(t, isRoot(), 'needs root to probe the kernel')) return;
  const r = cli(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  assert.equal(report.format, 'iommutrace-doctor/1');
  assert.ok(report.kernel.release.length > 0);
  assert.equal(typeof report.kernel.btf, 'boolean');
  assert.ok(report.kernel.tracefs.path, 'tracefs is found or mounted');
  for (const p of report.probes) {
    assert.ok(['available', 'unavailable'].includes(p.status), `${p.name}: ${p.status}`);
    if (p.status === 'unavailable') assert.ok(p.reason && p.reason.length > 10, `${p.name} has a reason`);
    else assert.ok(p.mode && p.target, `${p.name} has a mode and a target`);
  }
  const byName = new Map(report.probes.map((p) => [p.name, p]));
  // This machine's kernel (see DESIGN.md) refuses fentry and has no kprobes.
  if (!report.kernel.kprobes) {
    for (const name of ['gup.fast', 'iommu.attach_device', 'iommu.attach_group']) {
      const p = byName.get(name)!;
      assert.equal(p.status, 'unavailable', name);
      assert.match(p.reason!, /kprobes are not built into this kernel/);
      assert.match(p.reason!, /EPERM|not in kernel BTF/);
    }
  }
  for (const [name, event] of [['iommu.map', 'map'], ['iommu.unmap', 'unmap']]) {
    const p = byName.get(name)!;
    assert.equal(p.status, 'available', `${name}: ${p.reason}`);
    assert.ok(p.target === event || p.target === `iommu:${event}` || p.target === `iommu_${event}`, `${name}: ${p.target}`);
  }
  assert.equal(report.summary.available + report.summary.unavailable, report.probes.length);
});

test('doctor as text: the probe table and the count of probes that can attach', (t) => {
  if (!need(t, isRoot(), 'needs root to probe the kernel')) return;
  const r = cli(['doctor']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^PROBE\s+STATUS\s+MODE\s+TARGET/m);
  assert.match(r.stdout, /^iommu\.map\s+available/m);
  assert.match(r.stdout, /\d+ of \d+ probes can attach on this kernel\./);
});

test('without privileges: one line naming the missing capabilities, exit 1', (t) => {
  if (!need(t, isRoot(), 'needs root to drop to another user')) return;
  const r = cli(['doctor'], { asUser: 'nobody' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /CAP_BPF/);
  assert.match(r.stderr, /CAP_PERFMON/);
  assert.ok(!hasStackTrace(r.stderr));
});

test('a wrong flag: one clear line, non-zero exit, no stack trace', () => {
  const r = cli(['doctor', '--no-such-flag']);
  assert.notEqual(r.status, 0);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  assert.match(r.stderr, /no-such-flag/);
});

test('an unknown command: one clear line, non-zero exit', () => {
  const r = cli(['frobnicate']);
  assert.notEqual(r.status, 0);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  assert.match(r.stderr, /frobnicate/);
});
