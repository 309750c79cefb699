/**
 * The npm package on arm64: packed here, installed without running its scripts (no
 * compiler is asked for: its dependencies are JavaScript), and run from the installed
 * copy inside the arm64 lab guest (Debian 6.12, SMMUv3): the install check finds the
 * prebuilt linux-arm64 addon, doctor sees the device, record around the vfio workload
 * gives its bytes and pins exactly. One more arm64 boot, so it runs with the whole
 * arm64 matrix (IOMMUTRACE_LAB_ARM64=all), not in every `npm test`.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { runLab } from '../../src/lab';
import { CLI, ROOT } from '../helpers';
import { labTestOptions, prepareKernels, requirePrerequisites } from '../lab/prerequisites';

const WHOLE_MATRIX = process.env.IOMMUTRACE_LAB_ARM64 === 'all';
const options = WHOLE_MATRIX ? labTestOptions('debian-6.12', 20, 'arm64') : { skip: 'the whole arm64 matrix only (IOMMUTRACE_LAB_ARM64=all)', timeout: 0 };
// Inside the clone: the guest sees the clone (read-only) at its own path, nothing else of the host.
const prefix = path.join(ROOT, 'build', 'ship-arm64');
const installed = path.join(prefix, 'lib', 'node_modules', 'iommutrace');

before(async () => {
  if (options.skip) return;
  await prepareKernels(['debian-6.12'], 'arm64');
  fs.rmSync(prefix, { recursive: true, force: true });
  const work = fs.mkdtempSync(path.join(prefix + '-'));
  const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(pack.status, 0, pack.stderr);
  const tgz = path.join(work, pack.stdout.trim().split('\n').at(-1)!);
  const inst = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tgz], { encoding: 'utf8' });
  fs.rmSync(work, { recursive: true, force: true });
  assert.equal(inst.status, 0, inst.stderr);
});

test('the installed package runs on arm64: its prebuilt addon loads, doctor, record and report are exact', options, async () => {
  requirePrerequisites('debian-6.12', 'arm64');
  const outDir = path.join(ROOT, 'build', 'lab-out', 'arm64-ship');
  fs.mkdirSync(outDir, { recursive: true });
  const bin = path.join(installed, 'dist', 'src');
  const capture = path.join(outDir, 'capture.iotrace');
  const r = await runLab({
    arch: 'arm64',
    kernel: 'debian-6.12',
    workloads: ['vfio'],
    schedule: 'around',
    readyPattern: 'recording to',
    readyTimeoutMs: 240_000,
    readyDelayMs: 1000,
    command: [
      'sh',
      '-c',
      `node ${bin}/scripts/install-addon.js && node ${bin}/bin/iommutrace.js doctor --json > ${outDir}/doctor.json && exec node ${bin}/bin/iommutrace.js record -o ${capture} --force`,
    ],
    outDir,
    timeoutMs: 12 * 60_000,
    onProgress: (m) => process.stderr.write(`# ${m}\n`),
  });
  assert.equal(r.exitCode, 0, `in the guest:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /iommutrace: prebuilt addon loads \(libbpf 1\.\d+/);
  const doctor = JSON.parse(fs.readFileSync(path.join(outDir, 'doctor.json'), 'utf8'));
  assert.equal(doctor.format, 'iommutrace-doctor/1');
  assert.match(doctor.kernel.release, /-arm64$/);
  const t = r.groundTruth.vfio![0];
  const rep = spawnSync(process.execPath, [CLI, 'report', capture, '--json', '--pid', String(t.pid)], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  const report = JSON.parse(rep.stdout) as Report;
  const d = report.devices.find((x) => x.device === t.device);
  // VFIO type1's 2-page probe of a new domain comes on top of the workload's maps.
  assert.deepEqual(
    { map: d?.map_bytes, unmap: d?.unmap_bytes, pinned: report.pins.vfio_pages, driver: d?.iommu_driver, lost: report.events.lost },
    { map: t.mapped_bytes + 8192, unmap: t.unmapped_bytes + 8192, pinned: t.pinned_pages, driver: 'arm-smmu-v3', lost: 0 },
  );
});
