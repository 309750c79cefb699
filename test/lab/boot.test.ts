import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { runLab, type KernelName, type LabResult, type WorkloadName } from '../../src/lab';
import { labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

// Prints the release, then "<device> <group> <driver>" for every device in an IOMMU group.
const PROBE = [
  'sh',
  '-c',
  'uname -r; for d in /sys/kernel/iommu_groups/*/devices/*; do [ -e "$d" ] || continue; ' +
    'g=${d#/sys/kernel/iommu_groups/}; drv=$(readlink "$d/driver"); echo "${d##*/} ${g%%/*} ${drv##*/}"; done',
];

async function boot(kernel: KernelName, workloads: WorkloadName[]): Promise<{ result: LabResult; release: string; devices: Map<string, { group: number; driver: string }> }> {
  requirePrerequisites(kernel);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `iommutrace-lab-${kernel}-`));
  const result = await runLab({
    kernel,
    workloads,
    command: PROBE,
    outDir,
    timeoutMs: 10 * 60_000,
    onProgress: (m) => process.stderr.write(`# ${m}\n`),
  });
  assert.equal(result.exitCode, 0, `probe failed: ${result.stderr}`);
  const [release, ...rest] = result.stdout.trim().split('\n');
  const devices = new Map(
    rest.map((l) => {
      const [dev, group, driver] = l.split(' ');
      return [dev, { group: Number(group), driver: driver ?? '' }] as const;
    }),
  );
  return { result, release, devices };
}

function checkVfioKernel(r: Awaited<ReturnType<typeof boot>>): void {
  assert.equal(r.release, r.result.kernel.release);
  const dev = r.devices.get('0000:00:03.0');
  assert.ok(dev, `0000:00:03.0 is in no IOMMU group; groups: ${[...r.devices.keys()].join(' ')}`);
  assert.equal(dev.driver, 'vfio-pci');

  const [vfio] = r.result.groundTruth.vfio ?? [];
  assert.ok(vfio, 'no vfio ground truth');
  assert.equal(vfio.kernel, r.release);
  assert.equal(vfio.device, '0000:00:03.0');
  assert.equal(vfio.group, dev.group);
  assert.equal(vfio.rounds, 10);
  assert.equal(vfio.mapped_bytes, 10 * 2 * 1024 * 1024);
  assert.equal(vfio.unmapped_bytes, vfio.mapped_bytes);
  assert.equal(vfio.pinned_pages, 10 * 512);
  assert.equal(vfio.attaches, 1);

  const [leak] = r.result.groundTruth.leak ?? [];
  assert.ok(leak, 'no leak ground truth');
  assert.deepEqual(
    { group: leak.group, gets: leak.gets, puts: leak.puts, leaked: leak.leaked, taker: leak.taker },
    { group: dev.group, gets: 4, puts: 3, leaked: 1, taker: 'iommutrace_leak_take' },
  );
}

function checkGup(r: Awaited<ReturnType<typeof boot>>): void {
  const [gup] = r.result.groundTruth.gup ?? [];
  assert.ok(gup, 'no gup ground truth');
  assert.equal(gup.io_uring_prefaulted.pages, 4 * 16);
  assert.equal(gup.io_uring_untouched.pages, 2 * 8);
  assert.equal(gup.io_uring_hugetlb.pages, 512);
  assert.equal(gup.o_direct.pages, 8 * 4);
  assert.equal(gup.pinned_pages, 64 + 16 + 512 + 32);
}


before(() => prepareKernels(['debian-6.1', 'debian-6.12', 'iommufd-6.12']));
test('debian-6.1 boots, binds 0000:00:03.0 to vfio-pci, runs vfio, gup and leak', labTestOptions('debian-6.1', 15), async () => {
  const r = await boot('debian-6.1', ['vfio', 'gup', 'leak']);
  assert.match(r.release, /^6\.1\.\d+-\d+-amd64$/);
  checkVfioKernel(r);
  checkGup(r);
});

test('debian-6.12 boots, binds 0000:00:03.0 to vfio-pci, runs vfio, gup and leak', labTestOptions('debian-6.12', 15), async () => {
  const r = await boot('debian-6.12', ['vfio', 'gup', 'leak']);
  assert.match(r.release, /^6\.12\.\d+\+deb\d+-amd64$/);
  checkVfioKernel(r);
  checkGup(r);
});

test('iommufd-6.12 boots without an IOMMU and runs dirty and gup', labTestOptions('iommufd-6.12', 30), async () => {
  const r = await boot('iommufd-6.12', ['dirty', 'gup']);
  assert.match(r.release, /^6\.12\.\d+/);
  assert.equal(r.result.iommu, false);
  const [dirty] = r.result.groundTruth.dirty ?? [];
  assert.ok(dirty, 'no dirty ground truth');
  assert.equal(dirty.walks, 5);
  assert.equal(dirty.marked_per_walk, (4 << 20) / 2048 / 8);
  assert.equal(dirty.dirty_marked, 5 * dirty.marked_per_walk);
  assert.equal(dirty.dirty_read, dirty.dirty_marked);
  assert.equal(dirty.iommufd_pinned_pages, (4 << 20) / 4096);
  checkGup(r);
});

test('iommufd-6.12 with intel-iommu binds 0000:00:03.0 to vfio-pci, runs vfio and leak', labTestOptions('iommufd-6.12', 30), async () => {
  const r = await boot('iommufd-6.12', ['vfio', 'leak']);
  checkVfioKernel(r);
});
