/**
 * The pure parts of degrading honestly: the planner without CO-RE types, the one-line
 * reason when nothing attaches, `--probes NAME:MODE`, the privileges a kernel needs,
 * and how a probe that detached during a capture reads back and renders.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { probesAtEnd } from '../../src/capture/header';
import type { CaptureHeader } from '../../src/capture/types';
import { CATALOGUE } from '../../src/probes/catalogue';
import { NO_CORE_BTF, plan } from '../../src/probes/planner';
import { memlockCharged, missingCaps, privilegeProblem } from '../../src/probes/privileges';
import { selectProbes } from '../../src/probes/select';
import { renderReport } from '../../src/report/text';
import { NoProbeError } from '../../src/source/live';
import { DataKernel, DEBIAN_6_1 } from './fixtures/kernels';

class NoCoreKernel extends DataKernel {
  coreBtf = null;
}

class ModuleKernel extends DataKernel {
  symbolModule(name: string): string | undefined {
    return this.d.functions[name]?.module;
  }
}

test('no kernel types for CO-RE: every candidate of every probe is unavailable for that one reason, and the error says it once', () => {
  const planned = plan(new NoCoreKernel(DEBIAN_6_1), CATALOGUE);
  assert.ok(planned.length > 20);
  for (const p of planned) {
    assert.equal(p.status, 'unavailable', p.name);
    assert.ok(p.tried.every((t) => t.reason === NO_CORE_BTF), p.name);
  }
  assert.equal(new NoProbeError(planned).message, `no probe can attach on this kernel: ${NO_CORE_BTF} (see iommutrace doctor)`);
  assert.match(new NoProbeError(planned.slice(0, 1)).message, /the kernel has no BTF/);
});

test('a probe on a module function records the module holding it, from BTF or kallsyms', () => {
  const planned = plan(new ModuleKernel(DEBIAN_6_1), CATALOGUE);
  const pin = planned.find((p) => p.name === 'vfio.pin')!;
  assert.equal(pin.status, 'available', pin.reason ?? '');
  assert.equal(pin.module, 'vfio_iommu_type1');
  const k = selectProbes('vfio.pin:kprobe');
  const viaKprobe = plan(new ModuleKernel(DEBIAN_6_1), k.catalogue, (n) => k.names.has(n)).find((p) => p.name === 'vfio.pin')!;
  assert.equal(viaKprobe.mode, 'kretprobe');
  assert.equal(viaKprobe.module, 'vfio_iommu_type1');
  assert.equal(plan(new ModuleKernel(DEBIAN_6_1), CATALOGUE).find((p) => p.name === 'iommu.map')!.module, undefined);
});

test('--probes NAME:MODE narrows a probe to that attach mode; unknown names and modes are one line', () => {
  const s = selectProbes('vfio.pin:kprobe, iommu.map ,selftest.getppid');
  assert.deepEqual([...s.names].sort(), ['iommu.map', 'selftest.getppid', 'vfio.pin']);
  const pin = s.catalogue.find((x) => x.name === 'vfio.pin')!;
  assert.ok(pin.candidates.length > 0);
  assert.ok(pin.candidates.every((c) => c.programs.some((p) => p.attach === 'kprobe')));
  assert.deepEqual(s.catalogue.find((x) => x.name === 'iommu.map'), CATALOGUE.find((x) => x.name === 'iommu.map'));
  assert.throws(() => selectProbes('vfio.pin,nope.nothing'), /^Error: unknown probe nope\.nothing \(see iommutrace doctor\)$/);
  assert.throws(() => selectProbes('vfio.pin:uprobe'), /the mode after the colon is one of fentry, fexit, kprobe/);
  assert.throws(() => selectProbes('selftest.getppid:kprobe'), /selftest\.getppid has no kprobe variant \(its modes: tracepoint\)/);
  assert.throws(() => selectProbes(' , '), /names no probe/);
});

test('privileges: CAP_SYS_RESOURCE only where BPF memory counts against RLIMIT_MEMLOCK (before 5.11)', () => {
  assert.equal(memlockCharged('5.10.0-28-amd64'), true);
  assert.equal(memlockCharged('5.11.0'), false);
  assert.equal(memlockCharged('6.18.44-fc-v595'), false);
  const bpfPerfmon = new Set(['CAP_BPF', 'CAP_PERFMON'] as const);
  assert.deepEqual(missingCaps(bpfPerfmon, '6.1.0-56-amd64'), []);
  assert.deepEqual(missingCaps(bpfPerfmon, '5.10.0-28-amd64'), ['CAP_SYS_RESOURCE']);
  assert.deepEqual(missingCaps(new Set(['CAP_SYS_ADMIN'] as const), '5.4.0'), []);
  assert.equal(privilegeProblem(new Set(), '6.12.0'), 'live tracing needs root or CAP_BPF + CAP_PERFMON (missing: CAP_BPF, CAP_PERFMON); replay and report work without');
});

test('a probe that detached during a capture reads back detached, with its module and when, and the text report says so', () => {
  const probe = (name: string, module = '') => ({ name, target: name.replace('.', '_'), mode: 'kretprobe', status: 'attached', reason: '', module, lacks: [] });
  const h = { probes: [probe('vfio.pin', 'vfio_iommu_type1'), probe('vfio.unpin', 'vfio_iommu_type1'), probe('selftest.getppid')] } as unknown as CaptureHeader;
  const snap = (ts: number, counters: [string, number][]) => ({ tsNs: ts, hist: [], probeStats: [], counters: counters.map(([name, value]) => ({ name, value })) });
  assert.deepEqual(probesAtEnd(h, []), h.probes, 'no snapshot, nothing changes');
  const ended = probesAtEnd(h, [snap(5, [['ringbuf_lost', 0]]), snap(9_000_000_000, [['ringbuf_lost', 0], ['probe_detached:vfio.pin', 8_960_000_000], ['probe_detached:vfio.unpin', 8_960_000_000]])]);
  assert.deepEqual(
    ended.map((p) => [p.name, p.status, p.reason]),
    [
      ['vfio.pin', 'detached', 'module vfio_iommu_type1 was unloaded 9.0 s into the capture'],
      ['vfio.unpin', 'detached', 'module vfio_iommu_type1 was unloaded 9.0 s into the capture'],
      ['selftest.getppid', 'attached', ''],
    ],
  );
  const report = {
    format: 'iommutrace-report/1',
    capture: { started_at: '2026-11-21T15:00:00Z', duration_ns: 1e10, host: 'lab', kernel: { release: '6.1.0-56-amd64', btf: true }, cut: false, damage: null, stop_reason: 'SIGINT' },
    probes: ended.map((p) => ({ name: p.name, target: p.target, mode: p.mode, status: p.status, reason: p.reason || null, reason_code: p.reasonCode || null, events: 0 })),
    not_watched: [],
    events: { total: 0, lost: 0, fault_reports_dropped: 0 },
    latency: {},
    latency_histograms: {},
    dma: { map_calls: 0, map_bytes: 0, unmap_calls: 0, unmap_bytes: 0 },
    devices: [],
    map_sizes: {},
    iotlb: {},
    pins: { vfio_pages: 0, iommufd_pages: 0, unpinned_pages: 0, vfio_unpinned_pages: 0, iommufd_unpinned_pages: 0, gup_unpinned_pages: 0 },
    pin_ledger: [],
    gup: { calls: 0, pages_requested: 0, pages_pinned: 0, fast_pages: 0, slow_pages: 0, partial: 0, errors: 0, errors_by_errno: {} },
    gup_by_process: [],
    processes: [],
    map_failures: [],
    dirty: { walks: 0, errors: 0, bytes_walked: 0, by_callback: {} },
    groups: [],
    overflow: { group_refs: 0, stacks: 0, groups: 0, processes: 0, map_failures: 0, process_facts: 0 },
    page_faults: [],
    faults: [],
  } as Report;
  const text = renderReport(report);
  assert.match(text, /^probes {4}1 attached, 0 unavailable, 2 detached during the capture$/m);
  assert.match(text, /^ {2}DETACHED {2}vfio\.pin \(kretprobe vfio_pin\): module vfio_iommu_type1 was unloaded 9\.0 s into the capture; its counts stop there$/m);
  assert.doesNotMatch(text, /unavailable: /);
});
