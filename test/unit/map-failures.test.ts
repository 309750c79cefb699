import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { mapFailureCause } from '../../src/aggregate/map-failures';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { MapRequestEvent, RawEvent } from '../../src/events/types';
import { buildFamilies } from '../../src/export/model';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { describeEvent } from '../../src/tui/eventlog';
import { BPF_OBJECT } from '../helpers';

const MiB = 1 << 20;
const PAGES = (bytes: number) => bytes / 4096;
/** RLIM_INFINITY >> PAGE_SHIFT, as the kernel compares it. */
const UNLIMITED = 2 ** 52 - 1;

/** A MAP_DMA request as the probe reports it: ret, the size, and the kernel's figures. */
function req(o: Partial<MapRequestEvent> & { ret: number; size: number }, ts = 1e9, pid = 700, comm = 'qemu-system-x86'): MapRequestEvent {
  return {
    kind: 'map_request', probe: 'vfio.map_dma', ts_ns: ts, pid, tid: pid, comm, lat_ns: 5000,
    locked_pages: 0, limit_pages: UNLIMITED, cap_ipc_lock: 1, dma_avail: 100, dma_entry_limit: 65535, pad: 0,
    ...o,
  } as MapRequestEvent;
}

/** vm-alpha, no CAP_IPC_LOCK, 4 MiB limit: maps 3 MiB, is refused 3 MiB, maps 1 MiB, is refused 2 MiB. */
const memlock = (pid = 700, t0 = 1e9): MapRequestEvent[] => {
  const base = { cap_ipc_lock: 0, limit_pages: PAGES(4 * MiB) };
  return [
    req({ ...base, ret: 0, size: 3 * MiB, locked_pages: 0 }, t0, pid),
    req({ ...base, ret: -12, size: 3 * MiB, locked_pages: PAGES(3 * MiB) }, t0 + 1, pid),
    req({ ...base, ret: 0, size: MiB, locked_pages: PAGES(3 * MiB) }, t0 + 2, pid),
    req({ ...base, ret: -12, size: 2 * MiB, locked_pages: PAGES(4 * MiB) }, t0 + 3, pid),
  ];
};

test('causes: the entry limit, an overlap, the locked-memory limit, and what is none of them', () => {
  assert.deepEqual(mapFailureCause(req({ ret: -28, size: 4096, dma_avail: 0, dma_entry_limit: 8 })), { cause: 'dma_entry_limit', detail: { dma_entries: 8, dma_entry_limit: 8 } });
  assert.deepEqual(mapFailureCause(req({ ret: -28, size: 4096, dma_avail: 0, dma_entry_limit: 0 })), { cause: 'dma_entry_limit', detail: {} }, 'the parameter unreadable: no figures rather than wrong ones');
  assert.deepEqual(mapFailureCause(req({ ret: -17, size: 4096 })), { cause: 'overlap', detail: {} });
  const [, refused] = memlock();
  assert.deepEqual(mapFailureCause(refused), { cause: 'locked_memory_limit', detail: { locked_bytes: 3 * MiB, limit_bytes: 4 * MiB } });
  assert.equal(mapFailureCause({ ...refused, cap_ipc_lock: 1 }).cause, 'other', 'with CAP_IPC_LOCK the limit does not apply');
  assert.equal(mapFailureCause({ ...refused, limit_pages: UNLIMITED }).cause, 'other', 'an unlimited RLIMIT_MEMLOCK');
  assert.equal(mapFailureCause({ ...refused, size: MiB }).cause, 'other', 'the request fits: an allocation failed');
  assert.equal(mapFailureCause({ ...refused, probe: 'iommufd.ioas_map' }).cause, 'locked_memory_limit', 'iommufd against the user\'s locked pages');
  assert.equal(mapFailureCause(req({ ret: -28, size: 4096, probe: 'iommufd.ioas_map' })).cause, 'other', 'iommufd has no entry limit');
});

test('the aggregator groups failures by process, call, errno and cause, names the VM, and ignores successes', () => {
  const a = new Aggregator({ attached: new Set(['vfio.map_dma']), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => (pid === 700 ? { pid, vm: 'vm-alpha', cgroup: null } : undefined) });
  for (const e of memlock()) a.add(e as RawEvent);
  for (let i = 0; i < 3; i++) a.add(req({ ret: -28, size: 4096, dma_avail: 0, dma_entry_limit: 8, cap_ipc_lock: 1 }, 2e9 + i, 800, 'spdk') as RawEvent);
  const s = a.summary(3e9);
  assert.deepEqual(s.map_failures, [
    { pid: 800, comm: 'spdk', vm: null, api: 'vfio_map_dma', errno: 'ENOSPC', cause: 'dma_entry_limit', count: 3, bytes: 3 * 4096, cap_ipc_lock: true, detail: { dma_entries: 8, dma_entry_limit: 8 }, first_ns: 2e9, last_ns: 2e9 + 2 },
    // The detail is the group's last failure's.
    { pid: 700, comm: 'qemu-system-x86', vm: 'vm-alpha', api: 'vfio_map_dma', errno: 'ENOMEM', cause: 'locked_memory_limit', count: 2, bytes: 5 * MiB, cap_ipc_lock: false, detail: { locked_bytes: 4 * MiB, limit_bytes: 4 * MiB }, first_ns: 1e9 + 1, last_ns: 1e9 + 3 },
  ]);
  assert.equal(s.latency['vfio.map_dma'].count, 7, 'every request timed, refused or not');
  assert.equal(s.overflow.map_failures, 0);
});

test('the failure table is bounded like the process table: the process past it is summed under pid -1 and counted', () => {
  const a = new Aggregator({ attached: new Set(['vfio.map_dma']), symbolize: () => '', leakAgeNs: 0, maxProcesses: 2 });
  for (let pid = 1; pid <= 3; pid++) a.add(req({ ret: -17, size: 4096 }, pid, pid, `p${pid}`) as RawEvent);
  const s = a.summary(10);
  assert.deepEqual(s.map_failures.map((f) => [f.pid, f.comm, f.count]), [[-1, '(others)', 1], [1, 'p1', 1], [2, 'p2', 1]]);
  assert.equal(s.overflow.map_failures, 1);
});

test('the event log says a refusal in words, by VM name where the source knows it', () => {
  const [ok, refused, , second] = memlock();
  const vm = (pid: number) => (pid === 700 ? 'vm-alpha' : null);
  assert.equal(describeEvent(ok as RawEvent, true, vm), undefined, 'a map that succeeded is not logged');
  assert.deepEqual(describeEvent(refused as RawEvent, true, vm), { ts_ns: 1e9 + 1, level: 'error', text: 'vm-alpha: MAP_DMA 3.0 MiB refused: locked memory 3.0 MiB of 4.0 MiB limit' });
  assert.equal(describeEvent(second as RawEvent, true)?.text, 'qemu-system-x86[700]: MAP_DMA 2.0 MiB refused: locked memory 4.0 MiB of 4.0 MiB limit');
  assert.equal(describeEvent(req({ ret: -28, size: 4096, dma_avail: 0, dma_entry_limit: 65535 }) as RawEvent, true)?.text,
    'qemu-system-x86[700]: MAP_DMA 4.0 KiB refused: 65,535 of 65,535 DMA entries in use (dma_entry_limit)');
  assert.equal(describeEvent(req({ ret: -17, size: MiB, probe: 'iommufd.ioas_map' }) as RawEvent, true)?.text, 'qemu-system-x86[700]: IOAS_MAP 1.0 MiB refused: overlaps a mapping (EEXIST)');
  assert.equal(describeEvent(req({ ret: -14, size: MiB }) as RawEvent, true)?.text, 'qemu-system-x86[700]: MAP_DMA 1.0 MiB refused: EFAULT');
});

test('a capture round trip: map_failures[] in the report equals the aggregator, the text lists them, unwatched says so', () => {
  const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
  const header = (status: string): CaptureHeader => ({
    toolVersion: '0.0.0-test', host: 'h', kernelRelease: '6.1.0-57-amd64', bootId: 'b', btfFingerprint: '', btf: true,
    probes: [{ name: 'vfio.map_dma', target: 'vfio_iommu_type1_ioctl', mode: 'fexit', status, reason: '', module: 'vfio_iommu_type1', lacks: [] }],
    clockBaseNs: '0', wallBaseUnixNs: 1795279426000000000, kinds: captureKinds(decoder), leakAgeNs: 30e9, lockdown: 'none', argv: ['record'],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-mapfail-'));
  const write = (name: string, status: string): string => {
    const file = path.join(dir, name);
    const w = new CaptureWriter(file, header(status));
    for (const e of memlock()) w.add(e as unknown as CaptureEvent);
    w.processes([{ pid: 700, vm: 'vm-alpha', cgroup: null }]);
    w.close({ endNs: 2e9, lost: 0, stopReason: 'duration' });
    return file;
  };
  const report = buildReport(write('mf.iotrace', 'attached'));
  const a = new Aggregator({ attached: new Set(['vfio.map_dma']), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => (pid === 700 ? { pid, vm: 'vm-alpha', cgroup: null } : undefined) });
  for (const e of memlock()) a.add(e as RawEvent);
  assert.deepEqual(report.map_failures, a.summary(2e9).map_failures);
  assert.ok(!report.not_watched.includes('map_failures'));
  const text = renderReport(report);
  assert.match(text, /^MAP FAILURES\n.*CAUSE.*\n.*vm-alpha\s+vfio_map_dma\s+ENOMEM\s+locked_memory_limit\s+2\s+5\.0 MiB\s+no\s+locked memory 4\.0 MiB of 4\.0 MiB limit/m);
  const unwatched = buildReport(write('un.iotrace', 'unavailable'));
  assert.ok(unwatched.not_watched.includes('map_failures'));
  assert.match(renderReport(unwatched), /^MAP FAILURES\n {2}not watched/m);
});

test('metrics: failures by call, errno and cause (never a pid); per VM only with --vm-label', () => {
  const a = new Aggregator({ attached: new Set(['vfio.map_dma']), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => (pid === 700 || pid === 701 ? { pid, vm: 'vm-alpha', cgroup: null } : undefined) });
  for (const e of [...memlock(700), ...memlock(701, 5e9)]) a.add(e as RawEvent);
  a.add(req({ ret: -17, size: 4096 }, 6e9, 900, 'dpdk') as RawEvent);
  const input = { aggregator: a, nowNs: 7e9, probes: [], lost: 0, source: { kind: 'replay', host: 'h', kernel: '6.1' } };
  const family = (fams: ReturnType<typeof buildFamilies>, name: string) => fams.find((f) => f.name === name)?.samples;
  const off = buildFamilies(input);
  assert.deepEqual(family(off, 'iommutrace_map_failures_total'), [
    { labels: { api: 'vfio_map_dma', errno: 'ENOMEM', cause: 'locked_memory_limit' }, value: 4 },
    { labels: { api: 'vfio_map_dma', errno: 'EEXIST', cause: 'overlap' }, value: 1 },
  ]);
  assert.equal(family(off, 'iommutrace_vm_map_failures_total'), undefined);
  assert.deepEqual(family(buildFamilies({ ...input, vmLabel: true }), 'iommutrace_vm_map_failures_total'), [
    { labels: { vm: 'vm-alpha', api: 'vfio_map_dma', errno: 'ENOMEM', cause: 'locked_memory_limit' }, value: 4 },
  ], 'summed over the VM\'s processes; dpdk names no VM');
});
