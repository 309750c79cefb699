import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DoctorReport } from '../../src/commands/doctor';
import { isRoot, need } from '../helpers';
import { cli } from './cli';

test('doctor as text: causes said once each, the probes they hit grouped, every line within 80 columns off a terminal', (t) => {
  if (!need(t, isRoot(), 'needs root to probe the kernel')) return;
  const r = cli(['doctor']);
  assert.equal(r.status, 0, r.stderr);
  for (const line of r.stdout.split('\n')) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
  const report = JSON.parse(cli(['doctor', '--json']).stdout) as DoctorReport;
  // Every cause the probes met is in the text exactly once (a cause may wrap: compare without line breaks).
  const flat = r.stdout.replace(/\n\s+/g, ' ');
  const codes = new Set(report.probes.flatMap((p) => p.tried.map((x) => x.reason_code)));
  for (const code of codes) assert.equal(flat.split(`[${code}]`).length > 1, true, `${code} is shown`);
  if (!report.kernel.kprobes) {
    assert.equal(flat.split('kprobes are not built into this kernel').length, 2, 'said once');
    const unavailable = report.probes.filter((p) => p.status === 'unavailable');
    // A probe of tracepoints alone misses for another cause (iommu.fault_log: no VT-d here).
    const hit = unavailable.filter((p) => p.tried.some((x) => x.reason_code === 'no_kprobes')).length;
    const which = hit === unavailable.length ? `all ${hit} unavailable probes` : `${hit} probes`;
    assert.match(flat, new RegExp(`\\[no_kprobes\\] kprobes are not built into this kernel \\(CONFIG_KPROBES off\\): ${which}`));
  }
  for (const p of report.probes.filter((x) => x.status === 'unavailable')) assert.match(r.stdout, new RegExp(`^${p.name.replace('.', '\\.')}\\s+unavailable\\s+-\\s+-\\s+see \\d`, 'm'));
});

test('doctor --json: every unavailable probe and every candidate it tried carries a reason code', (t) => {
  if (!need(t, isRoot(), 'needs root to probe the kernel')) return;
  const report = JSON.parse(cli(['doctor', '--json']).stdout) as DoctorReport;
  for (const p of report.probes) {
    if (p.status === 'available') assert.equal(p.reason_code, null, p.name);
    else assert.ok(p.reason_code, p.name);
    for (const x of p.tried) assert.ok(x.reason_code && x.reason, `${p.name} ${x.mode}`);
  }
});
