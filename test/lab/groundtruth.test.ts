/**
 * The product's numbers against the workloads' own: for every lab kernel,
 * `iommutrace record` runs around the workloads inside the guest, and
 * `report --json` of that capture must equal the ground truth the workloads wrote.
 * The captures are kept in build/lab-captures/ for the TUI, export and bench.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { runLab, type GroundTruth, type KernelName, type WorkloadName } from '../../src/lab';
import { CLI, ROOT } from '../helpers';
import { labTestOptions, requirePrerequisites } from './prerequisites';

export const LAB_CAPTURES = path.join(ROOT, 'build', 'lab-captures');

interface Boot {
  kernel: KernelName;
  workloads: WorkloadName[];
}

const BOOTS: Boot[] = [
  { kernel: 'debian-6.1', workloads: ['vfio', 'gup', 'leak'] },
  { kernel: 'debian-6.12', workloads: ['vfio', 'gup', 'leak'] },
  { kernel: 'iommufd-6.12', workloads: ['dirty', 'gup'] },
  { kernel: 'iommufd-6.12', workloads: ['vfio', 'leak'] },
];

/** `iommutrace report --json` of a capture, with the CLI's own filters. */
function reportOf(capture: string, filters: string[] = []): Report {
  const rep = spawnSync(process.execPath, [CLI, 'report', capture, '--json', ...filters], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  return JSON.parse(rep.stdout) as Report;
}

/**
 * VFIO type1 maps and unmaps two pages in every new domain at attach, to learn
 * whether the IOMMU takes fine-grained superpages (vfio_test_domain_fgsp()):
 * kernel truth on top of the workload's own.
 */
const TYPE1_FGSP_PROBE_BYTES = 2 * 4096;

/** Boots, records around the workloads, and returns the report of the capture with the ground truth. */
async function recordAround(boot: Boot): Promise<{ truth: GroundTruth; capture: string }> {
  const outDir = path.join(ROOT, 'build', 'lab-out', `${boot.kernel}-${boot.workloads.join('-')}`);
  fs.mkdirSync(outDir, { recursive: true });
  const capture = path.join(outDir, 'capture.iotrace');
  const r = await runLab({
    kernel: boot.kernel,
    workloads: boot.workloads,
    schedule: 'around',
    readyPattern: 'recording to',
    readyTimeoutMs: 240_000,
    // Settle after attaching, so the workloads' first calls are seen.
    readyDelayMs: 1000,
    command: ['iommutrace', 'record', '-o', capture, '--force', '--leak-age', '0s'],
    outDir,
    timeoutMs: 12 * 60_000,
  });
  assert.equal(r.exitCode, 0, `record failed in the guest:\n${r.stderr}\n${r.log.split('\n').slice(-20).join('\n')}`);
  fs.mkdirSync(LAB_CAPTURES, { recursive: true });
  fs.copyFileSync(capture, path.join(LAB_CAPTURES, `${boot.kernel}-${boot.workloads.join('-')}.iotrace`));
  return { truth: r.groundTruth, capture };
}

function checkVfio(capture: string, truth: GroundTruth): void {
  const t = truth.vfio![0];
  const report = reportOf(capture);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.equal(d.group, t.group, 'group');
  assert.equal(d.map_bytes, t.mapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes mapped for the device');
  assert.equal(d.unmap_bytes, t.unmapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes unmapped for the device');
  assert.equal(d.attaches, t.attaches, 'attaches');
  assert.equal(d.detaches, t.detaches, 'detaches');
  assert.equal(d.attach_errors, 0);
  assert.equal(report.pins.vfio_pages, t.pinned_pages, 'pages pinned by VFIO');
  assert.equal(report.pins.vfio_unpinned_pages, t.unpinned_pages, 'pages VFIO unpinned');
}

function checkGup(capture: string, truth: GroundTruth): void {
  const t = truth.gup![0];
  // The workload's own calls: its process, between its start and end.
  const report = reportOf(capture, ['--pid', String(t.pid), '--since-ns', String(t.start_ns), '--until-ns', String(t.end_ns)]);
  const p = report.gup_by_process.find((x) => x.pid === t.pid);
  assert.ok(p, `the workload's process ${t.pid} pinned pages`);
  assert.equal(p.pages_pinned, t.pinned_pages, 'GUP pages pinned by the workload');
  assert.equal(p.errors, 0);
  assert.equal(p.fast_pages + p.slow_pages, p.pages_pinned, 'the split adds up');
  // Pages never touched are not present: the lockless walk cannot take them.
  assert.ok(p.slow_pages >= t.io_uring_untouched.pages, `slow ${p.slow_pages} >= untouched ${t.io_uring_untouched.pages}`);
}

function checkLeak(capture: string, truth: GroundTruth): void {
  const t = truth.leak![0];
  const report = reportOf(capture);
  const g = report.groups.find((x) => x.group === t.group);
  assert.ok(g, `group ${t.group} is in the report`);
  assert.ok(g.gets >= t.gets && g.puts >= t.puts, `gets ${g.gets} puts ${g.puts}`);
  assert.equal(g.leaked.length, t.leaked, `leaked references: ${JSON.stringify(g.leaked.map((l) => l.taker))}`);
  for (const l of g.leaked) assert.match(l.taker, new RegExp(`^${t.taker}\\+0x[0-9a-f]+ \\[iommutrace_leak\\]$`));
  // No false leak: nothing else anywhere is reported leaked.
  const others = report.groups.flatMap((x) => x.leaked).filter((l) => !l.taker.startsWith(t.taker));
  assert.deepEqual(others, [], 'no false leak');
}

function checkDirty(capture: string, truth: GroundTruth): void {
  const t = truth.dirty![0];
  const report = reportOf(capture);
  assert.equal(report.dirty.walks, t.walks, 'dirty-bitmap walks');
  assert.equal(report.dirty.errors, 0);
  assert.equal(report.dirty.by_callback['__iommu_read_and_clear_dirty'], t.walks, 'walks by iommufd');
  assert.equal(report.pins.iommufd_pages, t.iommufd_pinned_pages, 'pages pinned by iommufd');
}

const CHECKS: Record<WorkloadName, (capture: string, t: GroundTruth) => void> = {
  vfio: checkVfio,
  gup: checkGup,
  leak: checkLeak,
  dirty: checkDirty,
};

for (const boot of BOOTS) {
  test(`${boot.kernel}: record around ${boot.workloads.join(', ')} equals the ground truth`, labTestOptions(boot.kernel, 15), async () => {
    requirePrerequisites(boot.kernel);
    const { capture, truth } = await recordAround(boot);
    const whole = reportOf(capture);
    assert.equal(whole.events.lost, 0, 'no event lost');
    assert.equal(whole.capture.cut, false);
    assert.equal(whole.capture.stop_reason, 'SIGINT');
    for (const w of boot.workloads) CHECKS[w](capture, truth);
  });
}
