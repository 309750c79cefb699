/**
 * The product's numbers against the workloads' own: for every lab kernel,
 * `iommutrace record` runs around the workloads inside the guest, and
 * `report --json` of that capture must equal the ground truth the workloads wrote,
 * and its replay summed (as top and export play it) the replay one by one.
 * The captures are kept in build/lab-captures/ for the TUI, export and bench.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { before, test } from 'node:test';
import { HUGE_CLASS } from '../../src/aggregate/map-sizes';
import type { Report } from '../../src/aggregate/report';
import type { ProbeName } from '../../src/generated/bpf';
import type { GroundTruth, IommuVendor, MapFailTruth, WorkloadName } from '../../src/lab';
import { CATALOGUE } from '../../src/probes/catalogue';
import { CLI } from '../helpers';
import { assertSumsAgree } from '../replay-sums';
import { capturePath, E2E_BOOT, recordAround, type Boot } from './captures';
import { ARM64_TEST_KERNELS, labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

/**
 * Workloads that share a boot run one after the other, each in its own process:
 * the checks of the VFIO users (vfio, qemu, cdev) read the capture for their own
 * process only. premap (set up before the tool) and netdev (the device on its own
 * driver) need boots of their own.
 */
const BOOTS: Boot[] = [
  E2E_BOOT,
  { kernel: 'debian-6.1', workloads: ['premap'] },
  { kernel: 'debian-6.1', workloads: ['netdev'] },
  { kernel: 'debian-6.12', workloads: ['vfio', 'gup', 'leak', 'qemu', 'entrylimit', 'memlock', 'hugetlb', 'fault'] },
  { kernel: 'debian-6.12', workloads: ['premap'] },
  { kernel: 'debian-6.12', workloads: ['netdev'] },
  { kernel: 'iommufd-6.12', workloads: ['dirty', 'gup'] },
  { kernel: 'iommufd-6.12', workloads: ['vfio', 'leak', 'cdev', 'memlock-iommufd'] },
  // AMD-Vi: strict mode, its own unmap and IOTLB paths.
  { kernel: 'debian-6.1', workloads: ['vfio', 'leak', 'qemu', 'hugetlb', 'fault'], vendor: 'amd' },
  { kernel: 'debian-6.12', workloads: ['vfio', 'leak', 'qemu', 'hugetlb', 'fault'], vendor: 'amd' },
  // arm64 with SMMUv3 (6.12: fentry; 6.1, with IOMMUTRACE_LAB_ARM64=all: kprobes).
  ...ARM64_TEST_KERNELS.map((kernel): Boot => ({ kernel, workloads: ['vfio', 'leak'], arch: 'arm64', vendor: 'smmuv3' })),
  // A kernel driver's DMA on SMMUv3 against the kernel's own tracepoints, with the whole arm64 matrix.
  ...(ARM64_TEST_KERNELS.length > 1 ? [{ kernel: 'debian-6.12', workloads: ['netdev'], arch: 'arm64', vendor: 'smmuv3' } satisfies Boot] : []),
];

/**
 * VFIO type1 maps and unmaps two pages in every new domain at attach, to learn
 * whether the IOMMU takes fine-grained superpages (vfio_test_domain_fgsp()):
 * kernel truth on top of the workload's own.
 */
const TYPE1_FGSP_PROBE_BYTES = 2 * 4096;

/** `iommutrace report --json` of a capture, with the CLI's own filters. */
function reportOf(capture: string, filters: string[] = []): Report {
  const rep = spawnSync(process.execPath, [CLI, 'report', capture, '--json', ...filters], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  return JSON.parse(rep.stdout) as Report;
}

/** The report of one process's events (a workload that shares its boot with others). */
function reportOfPid(capture: string, pid: number): Report {
  return reportOf(capture, ['--pid', String(pid)]);
}

function checkVfio(capture: string, truth: GroundTruth, boot: Boot): void {
  const t = truth.vfio![0];
  const report = reportOfPid(capture, t.pid);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.equal(d.group, t.group, 'group');
  assert.equal(d.map_bytes, t.mapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes mapped for the device');
  assert.equal(d.unmap_bytes, t.unmapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes unmapped for the device');
  assert.equal(d.attaches, t.attaches, 'attaches');
  assert.equal(d.detaches, t.detaches, 'detaches');
  assert.equal(d.attach_errors, 0);
  assert.equal(d.path, 'vfio-group');
  assert.equal(d.iommu_driver, IOMMU_DRIVER[boot.vendor ?? 'intel']);
  assert.equal(report.pins.vfio_pages, t.pinned_pages, 'pages pinned by VFIO');
  assert.equal(report.pins.vfio_unpinned_pages, t.unpinned_pages, 'pages VFIO unpinned');
  sizeSplit(report, t.device);
  if (boot.vendor === 'smmuv3') assertSmmuIotlbRefused(report);
  else assertStrictInvalidation(report, t.device);
}

/**
 * Debian's arm64 kernels build in arm-smmu (v2) and arm-smmu-v3, each with a static
 * arm_smmu_iotlb_sync and arm_smmu_flush_iotlb_all: by name, fentry and kprobes take
 * the first, which here is v2's and never called. The planner refuses them (reason
 * `ambiguous`; 6.1's kprobes refuse such a name themselves, EADDRNOTAVAIL), so the
 * IOTLB is "not watched" rather than zero.
 */
function assertSmmuIotlbRefused(report: Report): void {
  for (const name of ['iommu.iotlb_sync', 'iommu.flush_all']) {
    const p = report.probes.find((x) => x.name === name);
    assert.equal(p?.status, 'unavailable', name);
    // Ours where the planner gets that far; 6.1 refuses fentry on arm64 at all, and its kprobes refuse an ambiguous name themselves.
    assert.match(p?.reason ?? '', /arm_smmu_\w+: .*(could land on the other|EADDRNOTAVAIL)/, name);
  }
  assert.ok(report.not_watched.includes('iotlb'), `iotlb not watched: ${JSON.stringify(report.not_watched)}`);
}

/**
 * VFIO's domains are unmanaged, so always strict: every unmap's range is invalidated
 * by the driver's iotlb_sync before the ioctl returns (on VT-d and AMD-Vi alike), each
 * byte once, since type1 unmaps a region in IOVA order and syncs contiguous runs.
 */
function assertStrictInvalidation(report: Report, device: string): void {
  const d = report.devices.find((x) => x.device === device)!;
  const io = report.iotlb[device];
  assert.ok(io && io.sync_calls > 0, `IOTLB syncs for ${device}: ${JSON.stringify(report.iotlb)}`);
  assert.equal(io.sync_bytes, d.unmap_bytes, 'bytes invalidated equal bytes unmapped');
  assert.equal(io.sync_latency?.count, io.sync_calls, 'every sync timed');
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

/** Rows of DMA into a domain the tool could not place: none may carry bytes. */
function unplaced(report: Report): Report['devices'] {
  return report.devices.filter((d) => d.device === 'unknown' && (d.map_bytes || d.unmap_bytes));
}

/**
 * A container mapped before `record` started: the group's domain is found at start,
 * so the maps and unmaps made while recording land on the device, exactly.
 */
function checkPremap(capture: string, truth: GroundTruth): void {
  const t = truth.premap![0];
  const report = reportOf(capture);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.deepEqual(unplaced(report), [], 'no DMA on an unknown row');
  assert.equal(d.map_bytes, t.mapped_bytes, 'bytes mapped while recording');
  assert.equal(d.unmap_bytes, t.unmapped_bytes, 'bytes unmapped while recording (the premapped ones too)');
  assert.equal(d.path, 'vfio-group');
  assert.equal(report.pins.vfio_pages, t.pinned_pages, 'pages pinned while recording');
  assert.equal(report.pins.vfio_unpinned_pages, t.unpinned_pages, 'pages unpinned while recording');
}

/** A kernel driver's DMA into its boot-time default domain equals the kernel's own iommu:map/unmap tracepoints. */
function checkNetdev(capture: string, truth: GroundTruth, boot: Boot): void {
  const t = truth.netdev![0];
  assert.ok(t.tracepoint_maps > 0, `the driver mapped something (${t.tracepoint_maps} maps)`);
  const report = reportOf(capture);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.deepEqual(unplaced(report), [], 'no DMA on an unknown row');
  assert.equal(d.path, 'kernel');
  assert.equal(d.driver, 'e1000e');
  assert.equal(d.map_bytes, t.tracepoint_map_bytes, `bytes mapped (iommu:map saw ${t.tracepoint_maps} maps)`);
  assert.equal(d.unmap_bytes, t.tracepoint_unmap_bytes, `bytes unmapped (iommu:unmap saw ${t.tracepoint_unmaps} unmaps)`);
  // Debian's arm64 kernels default to strict DMA domains; SMMUv3's IOTLB ops cannot be told apart by name.
  if (boot.vendor === 'smmuv3') {
    assert.equal(d.domain_type, 'DMA');
    return assertSmmuIotlbRefused(report);
  }
  // Lazy mode (DMA-FQ, VT-d's default): unmaps go to the flush queue, which
  // invalidates the whole domain in batches instead of syncing each range.
  assert.equal(d.domain_type, 'DMA-FQ');
  const io = report.iotlb[t.device];
  assert.ok(io && io.flush_calls > 0, `whole-domain flushes for the driver's unmaps: ${JSON.stringify(report.iotlb)}`);
  assert.equal(io.sync_calls, 0, 'no range sync in lazy mode');
}

/** The VFIO device cdev on iommufd: the device's bytes, path, and iommufd's pins and unpins balanced. */
function checkCdev(capture: string, truth: GroundTruth): void {
  const t = truth.cdev![0];
  const report = reportOfPid(capture, t.pid);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.deepEqual(unplaced(report), [], 'no DMA on an unknown row');
  assert.equal(d.path, 'vfio-cdev');
  assert.equal(d.map_bytes, t.mapped_bytes, 'bytes mapped through IOMMU_IOAS_MAP');
  assert.equal(d.unmap_bytes, t.unmapped_bytes, 'bytes unmapped through IOMMU_IOAS_UNMAP');
  assert.equal(d.attaches, t.attaches, 'attaches');
  assert.equal(d.detaches, t.detaches, 'detaches');
  assert.equal(report.pins.iommufd_pages, t.pinned_pages, 'pages iommufd pinned');
  assert.equal(report.pins.iommufd_unpinned_pages, t.unpinned_pages, 'pages iommufd unpinned');
}

/**
 * A real VMM: QEMU's own trace of the RAM it mapped for the device. VFIO type1 adds
 * its two probe pages at attach; everything QEMU pinned is released by its exit.
 */
function checkQemu(capture: string, truth: GroundTruth): void {
  const t = truth.qemu![0];
  const report = reportOfPid(capture, t.qemu_pid);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.deepEqual(unplaced(report), [], 'no DMA on an unknown row');
  assert.equal(d.path, 'vfio-group');
  assert.equal(d.map_bytes, t.mapped_bytes + TYPE1_FGSP_PROBE_BYTES, `bytes mapped (QEMU traced ${t.trace_add_ram} RAM sections)`);
  assert.equal(d.unmap_bytes, t.unmapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes unmapped (by QEMU and at its exit)');
  assert.equal(report.pins.vfio_pages, t.pinned_pages, 'pages pinned');
  assert.equal(report.pins.vfio_unpinned_pages, t.unpinned_pages, 'pages released');
  const held = report.pin_ledger.filter((p) => p.pid === t.qemu_pid && p.pinned !== p.unpinned);
  assert.deepEqual(held, [], 'nothing left pinned by QEMU after it exits');
  // Which VM: QEMU's -name guest=NAME, read on the recording host and kept in the capture.
  const vm = report.processes.filter((p) => p.vm === t.vm);
  assert.equal(vm.length, 1, `one process names the VM ${t.vm}: ${JSON.stringify(report.processes)}`);
  assert.deepEqual(
    { pid: vm[0].pid, comm: vm[0].comm, map_bytes: vm[0].map_bytes, unmap_bytes: vm[0].unmap_bytes, pinned_pages: vm[0].pinned_pages, unpinned_pages: vm[0].unpinned_pages },
    { pid: t.qemu_pid, comm: 'qemu-system-x86', map_bytes: d.map_bytes, unmap_bytes: d.unmap_bytes, pinned_pages: t.pinned_pages, unpinned_pages: t.unpinned_pages },
  );
}

const ERRNO: Record<number, string> = { 12: 'ENOMEM', 28: 'ENOSPC' };

/**
 * MAP_DMA refusals, explained: the workload's own requests and errnos against
 * map_failures[] of its process, with the figures the kernel decided by.
 */
function checkMapFailures(t: MapFailTruth, expected: { cause: string; errno: number; cap_ipc_lock: boolean; detail: Record<string, number> }, capture: string, iommufd = false): void {
  assert.ok(t.failed > 0, `the workload saw refusals: ${JSON.stringify(t.requests)}`);
  assert.ok(t.requests.every((r) => r.errno === 0 || r.errno === expected.errno), `every refusal is ${ERRNO[expected.errno]}: ${JSON.stringify(t.requests)}`);
  const report = reportOfPid(capture, t.pid);
  assert.equal(report.latency[iommufd ? 'iommufd.ioas_map' : 'vfio.map_dma']?.count, t.maps, 'every map request seen');
  const strip = ({ pid, comm, vm, api, errno, cause, count, bytes, cap_ipc_lock, detail }: Report['map_failures'][number]) =>
    ({ pid, comm, vm, api, errno, cause, count, bytes, cap_ipc_lock, detail });
  assert.deepEqual(report.map_failures.map(strip), [
    { pid: t.pid, comm: 'mapfail', vm: null, api: iommufd ? 'iommufd_ioas_map' : 'vfio_map_dma', errno: ERRNO[expected.errno], cause: expected.cause, count: t.failed, bytes: t.failed_bytes, cap_ipc_lock: expected.cap_ipc_lock, detail: expected.detail },
  ]);
}

/** dma_entry_limit = L, L + K maps: exactly the last K refused, with the container's entries and the limit. */
function checkEntrylimit(capture: string, truth: GroundTruth): void {
  const t = truth.entrylimit![0];
  const l = t.dma_entry_limit;
  assert.deepEqual(t.requests.map((r) => r.errno), [...Array(l).fill(0), ...Array(t.maps - l).fill(28)], 'the workload: the maps past the limit were refused');
  checkMapFailures(t, { cause: 'dma_entry_limit', errno: 28, cap_ipc_lock: true, detail: { dma_entries: l, dma_entry_limit: l } }, capture);
}

/** Without CAP_IPC_LOCK under a small RLIMIT_MEMLOCK: exactly the maps that cross it fail, with the locked bytes and the limit. */
function checkMemlock(capture: string, truth: GroundTruth, iommufd = false): void {
  const t = (iommufd ? truth['memlock-iommufd'] : truth.memlock)![0];
  assert.deepEqual(t.requests.map((r) => r.errno), t.requests.map((r) => (r.locked_before + r.size > t.limit_bytes ? 12 : 0)), 'the workload: exactly the maps crossing the limit were refused');
  const last = t.requests.filter((r) => r.errno).at(-1)!;
  checkMapFailures(t, { cause: 'locked_memory_limit', errno: 12, cap_ipc_lock: false, detail: { locked_bytes: last.locked_before, limit_bytes: t.limit_bytes } }, capture, iommufd);
}

/** A device's map_sizes split at 2 MiB: bytes in smaller calls and in huge ones; they add up to its map_bytes. */
function sizeSplit(report: Report, device: string): { small: number; huge: number } {
  const classes = Object.entries(report.map_sizes[device] ?? {});
  const bytes = (keep: (size: number) => boolean) => classes.filter(([size]) => keep(Number(size))).reduce((s, [, c]) => s + c.bytes, 0);
  const split = { small: bytes((size) => size < HUGE_CLASS), huge: bytes((size) => size >= HUGE_CLASS) };
  const d = report.devices.find((x) => x.device === device);
  assert.equal(split.small + split.huge, d?.map_bytes, `map_sizes of ${device} add up to its bytes mapped`);
  return split;
}

/**
 * VFIO type1 on 2 MiB huge pages: type1 maps each physically contiguous run of
 * pinned pages in one iommu_map(), and a huge page is one run, so every byte the
 * workload mapped is in the 2 MiB-or-larger classes; only type1's own probe pages
 * at attach are smaller.
 */
function checkHugetlb(capture: string, truth: GroundTruth, boot: Boot): void {
  const t = truth.hugetlb![0];
  const report = reportOfPid(capture, t.pid);
  const d = report.devices.find((x) => x.device === t.device);
  assert.ok(d, `device ${t.device} is in the report: ${JSON.stringify(report.devices)}`);
  assert.equal(d.map_bytes, t.mapped_bytes + TYPE1_FGSP_PROBE_BYTES, 'bytes mapped for the device');
  assert.equal(d.iommu_driver, IOMMU_DRIVER[boot.vendor ?? 'intel']);
  assert.deepEqual(sizeSplit(report, t.device), { small: TYPE1_FGSP_PROBE_BYTES, huge: t.mapped_bytes }, `map sizes: ${JSON.stringify(report.map_sizes)}`);
  const p = report.processes.find((x) => x.pid === t.pid);
  assert.equal(p?.huge_map_share, t.mapped_bytes / (t.mapped_bytes + TYPE1_FGSP_PROBE_BYTES), 'the process\'s share of bytes in huge maps');
  assert.equal(report.pins.vfio_pages, t.pinned_pages, 'pages pinned by VFIO');
  assertStrictInvalidation(report, t.device);
}

const IOMMU_DRIVER: Record<IommuVendor, string> = { intel: 'intel-iommu', amd: 'amd-iommu', smmuv3: 'arm-smmu-v3' };

/** The kernel's own words for a fault, read here apart from the tool's parser: VT-d's line and AMD-Vi's. */
const LOGGED_FAULT = /^DMAR: \[DMA (Read|Write)[^\]]*\] Request device \[00:03\.0\] fault addr 0x([0-9a-f]+) \[fault reason 0x([0-9a-f]+)\]/;
const AMD_LOGGED_FAULT = /IO_PAGE_FAULT/;
const SUPPRESSED = /^dmar_fault: (\d+) callbacks suppressed/;

/**
 * A device that faults: the e1000e, driven from user space, reads buffers at IOVAs
 * its domain never mapped. On VT-d the kernel logs each fault its rate limiter lets
 * through, and the tool must count exactly those, with the workload's IOVAs, reads,
 * the reason codes, and the reports the limiter dropped. On AMD-Vi, QEMU 7.2's
 * amd-iommu never delivers a fault to the guest (README, "IO page faults"): the
 * kernel logs none and the tool, its tracepoint attached, counts none.
 */
function checkFault(capture: string, truth: GroundTruth, boot: Boot): void {
  const t = truth.fault![0];
  const chosen = new Set(t.faults.map((f) => f.iova));
  assert.equal(t.tx_head, t.faults.length, 'the device fetched every descriptor, so it read every buffer address');
  assert.ok(t.faults.every((f) => !f.write), 'transmit buffers are device reads');
  const report = reportOf(capture);
  const mine = report.faults.find((f) => f.device === t.device);
  assert.deepEqual(report.faults.filter((f) => f.device !== t.device), [], 'no fault on any other device');
  if (boot.vendor === 'amd') {
    assert.deepEqual(t.kernel_log.filter((l) => AMD_LOGGED_FAULT.test(l)), [], `QEMU 7.2's amd-iommu logs no fault: ${JSON.stringify(t.kernel_log)}`);
    assert.equal(report.probes.find((p) => p.name === 'iommu.io_page_fault')?.status, 'attached', 'the AMD-Vi fault tracepoint was watched');
    assert.equal(mine, undefined, 'and nothing was counted');
    return;
  }
  const logged = t.kernel_log.map((l) => LOGGED_FAULT.exec(l)).filter((m) => m !== null);
  const dropped = t.kernel_log.map((l) => SUPPRESSED.exec(l)).reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
  assert.ok(logged.length > 0, `the kernel logged faults: ${JSON.stringify(t.kernel_log)}`);
  const iovas = logged.map((m) => '0x' + BigInt('0x' + m[2]).toString(16));
  assert.ok(iovas.every((a) => chosen.has(a)), `every logged fault is at an IOVA the workload chose: ${iovas.join(' ')}`);
  assert.ok(iovas.includes(t.faults.at(-1)!.iova), 'the fault after the pause is logged');
  assert.ok(mine, `faults on ${t.device}: ${JSON.stringify(report.faults)}`);
  const reasons: Record<string, number> = {};
  for (const m of logged) reasons['0x' + m[3]] = (reasons['0x' + m[3]] ?? 0) + 1;
  assert.deepEqual(
    { count: mine.count, reads: mine.reads, writes: mine.writes, reasons: mine.reasons, iommu_driver: mine.iommu_driver, pid: mine.pid },
    { count: logged.length, reads: logged.filter((m) => m[1] === 'Read').length, writes: 0, reasons, iommu_driver: 'intel-iommu', pid: t.pid },
  );
  assert.deepEqual(mine.last.map((f) => [f.iova, f.write]), iovas.slice(-16).map((a) => [a, false]), 'the last faults, in order');
  assert.equal(report.events.fault_reports_dropped, dropped, 'reports the rate limiter dropped, as it said');
}

const CHECKS: Record<WorkloadName, (capture: string, t: GroundTruth, boot: Boot) => void> = {
  vfio: checkVfio,
  gup: checkGup,
  leak: checkLeak,
  dirty: checkDirty,
  premap: checkPremap,
  netdev: checkNetdev,
  cdev: checkCdev,
  qemu: checkQemu,
  entrylimit: checkEntrylimit,
  memlock: (capture, truth) => checkMemlock(capture, truth),
  // iommufd counts the pins against the user's locked memory, the limit the same.
  'memlock-iommufd': (capture, truth) => checkMemlock(capture, truth, true),
  hugetlb: checkHugetlb,
  fault: checkFault,
};

before(async () => {
  await prepareKernels([...new Set(BOOTS.filter((b) => !b.arch).map((b) => b.kernel))]);
  await prepareKernels(ARM64_TEST_KERNELS, 'arm64');
});

for (const boot of BOOTS) {
  const where = boot.arch === 'arm64' ? ' (arm64, SMMUv3)' : boot.vendor === 'amd' ? ' (AMD-Vi)' : '';
  test(`${boot.kernel}${where}: record around ${boot.workloads.join(', ')} equals the ground truth`, labTestOptions(boot.kernel, 15, boot.arch), async () => {
    requirePrerequisites(boot.kernel, boot.arch);
    const { capture, truth } = await recordAround(boot);
    const whole = reportOf(capture);
    assert.equal(whole.events.lost, 0, 'no event lost');
    assert.equal(whole.capture.cut, false);
    assert.equal(whole.capture.stop_reason, 'SIGINT');
    for (const w of boot.workloads) CHECKS[w](capture, truth, boot);
    // top and export replay it summed: every table as one by one.
    await assertSumsAgree(capture);
  });
}

/**
 * Probes that no lab workload makes fire, and why: the README lists them ("Probes
 * never seen firing in the lab"). Every other probe of the catalogue must fire in
 * some capture of this suite, and none of these may (then it leaves this list).
 */
const NEVER_SEEN: Partial<Record<ProbeName, string>> = {
  'iommu.attach_device': 'iommu_attach_device() serves in-kernel users of singleton groups (vhost-vdpa, usnic); VFIO and iommufd attach groups',
  'iommu.detach_device': 'the detach of the same in-kernel users',
  'iommu.group_ref_get': 'taken when a device joins its group and when vfio-pci creates its VFIO group: at boot, before any capture',
  'gup.fast_only': 'gup_fast()/lockless_pages_from_mm() are inlined in every lab kernel (the fast/slow split is read inside gup.fast)',
  'gup.slow': '__gup_longterm_locked() under gup.fast: inlined or not reached on the lab kernels',
  'iommufd.pin': 'iommufd\'s access API serves in-kernel users (mdev drivers on iommufd); no emulated device uses it',
  'iommufd.unpin': 'the same access API\'s unpin',
  // The fault workload's faults on VT-d come through iommu.fault_log.
  'iommu.io_page_fault': 'VT-d never calls it, and QEMU 7.2\'s amd-iommu never delivers a fault to the guest (README, "IO page faults")',
};

/** Probes whose programs send nothing to the ring by design, and where they are shown working instead. */
const SILENT: Partial<Record<ProbeName, string>> = {
  'iommu.domain_free': 'retires a freed domain\'s in-kernel sums (it_freed): modules-late.test.ts shows the tables emptying as VMs quit',
};

test('every catalogue probe fires in some lab capture, or is listed as never seen with its reason', labTestOptions(undefined, 5), () => {
  requirePrerequisites();
  const fired = new Set<string>();
  for (const boot of BOOTS) {
    for (const p of reportOf(capturePath(boot)).probes) if (p.events > 0) fired.add(p.name);
  }
  const probes = CATALOGUE.filter((s) => !s.optIn && !SILENT[s.name]).map((s) => s.name);
  assert.deepEqual(probes.filter((p) => !fired.has(p) && !NEVER_SEEN[p]), [], 'probes that never fired and are not listed as never seen');
  assert.deepEqual(probes.filter((p) => fired.has(p) && NEVER_SEEN[p]), [], 'probes listed as never seen that fire now');
});
