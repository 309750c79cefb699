import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOGUE } from '../../src/probes/catalogue';
import { plan, PlannedProbe } from '../../src/probes/planner';
import { ProbeSpec } from '../../src/probes/types';
import { DataKernel, DEBIAN_6_1, DEBIAN_6_12, KernelData, THIS_MACHINE } from './fixtures/kernels';

function planFor(d: KernelData, catalogue = CATALOGUE): Map<string, PlannedProbe> {
  return new Map(plan(new DataKernel(d), catalogue).map((p) => [p.name, p]));
}

function get(m: Map<string, PlannedProbe>, name: string): PlannedProbe {
  const p = m.get(name);
  assert.ok(p, `probe ${name} is planned`);
  return p;
}

test('this machine: trampolines refused and no kprobes, so attach and GUP probes are unavailable and say why', () => {
  const m = planFor(THIS_MACHINE);
  for (const name of ['gup.fast', 'gup.pin_remote', 'iommu.attach_device', 'iommu.attach_group', 'vfio.pin']) {
    const p = get(m, name);
    assert.equal(p.status, 'unavailable', name);
    assert.match(p.reason!, /EPERM|not loaded|not in kernel BTF/, `${name}: ${p.reason}`);
  }
  for (const name of ['gup.fast', 'iommu.attach_device']) {
    assert.match(get(m, name).reason!, /EPERM/);
    assert.match(get(m, name).reason!, /kprobes are not built into this kernel/);
  }
});

test('this machine: iommu.map and iommu.unmap come through the iommu tracepoints', () => {
  const m = planFor(THIS_MACHINE);
  for (const [name, event] of [['iommu.map', 'map'], ['iommu.unmap', 'unmap']]) {
    const p = get(m, name);
    assert.equal(p.status, 'available', `${name}: ${p.reason}`);
    assert.ok(['tp_btf', 'raw_tp', 'tracepoint'].includes(p.mode!), `${name} mode ${p.mode}`);
    assert.ok(p.target === event || p.target === `iommu:${event}`, `${name} target ${p.target}`);
    assert.ok(p.tried.some((t) => /EPERM/.test(t.reason)), 'the refused fexit variant is listed as tried');
  }
});

test('this machine without tracefs or BTF: the tracepoint fallbacks say what is missing', () => {
  const m = planFor({ ...THIS_MACHINE, tracefs: false, btf: false });
  const p = get(m, 'iommu.map');
  assert.equal(p.status, 'unavailable');
  assert.match(p.reason!, /tracefs is not mounted/);
  assert.match(p.reason!, /no BTF/);
});

test('every logical probe of the CLI contract is in the plan, opt-in ones only when asked', () => {
  const names = plan(new DataKernel(THIS_MACHINE), CATALOGUE).map((p) => p.name);
  for (const n of ['iommu.attach_device', 'iommu.attach_group', 'iommu.group_get', 'iommu.group_put', 'iommu.map', 'iommu.unmap', 'gup.fast', 'gup.pin_remote', 'vfio.pin', 'iommufd.pin', 'dirty.walk']) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(!names.includes('selftest.getppid'));
  const only = plan(new DataKernel(THIS_MACHINE), CATALOGUE, (n) => n === 'selftest.getppid');
  assert.deepEqual(only.filter((p) => p.reasonCode !== 'not_requested').map((p) => [p.name, p.status]), [['selftest.getppid', 'available']]);
});

test('Debian 6.1: fexit where it works, the old GUP names, VFIO through module BTF', () => {
  const m = planFor(DEBIAN_6_1);
  const map = get(m, 'iommu.map');
  assert.equal(map.mode, 'fexit');
  assert.equal(map.target, 'iommu_map');
  assert.equal(get(m, 'gup.fast').target, 'internal_get_user_pages_fast');
  const vfio = get(m, 'vfio.pin');
  assert.equal(vfio.status, 'available');
  assert.equal(vfio.target, 'vfio_pin_pages_remote');
  assert.equal(vfio.module, 'vfio_iommu_type1');
  assert.equal(get(m, 'iommufd.pin').status, 'unavailable');
  assert.equal(get(m, 'dirty.walk').status, 'available');
});

test('inside modules kprobes are chosen over trampolines (which would hold the module), unless told to hold modules', () => {
  const held = new Map(plan(new DataKernel(DEBIAN_6_1), CATALOGUE, undefined, { holdModules: true }).map((p) => [p.name, p]));
  const free = planFor(DEBIAN_6_1);
  for (const name of ['vfio.pin', 'vfio.unpin']) {
    assert.equal(get(held, name).mode, 'fexit', `${name} with --hold-modules`);
    const p = get(free, name);
    assert.equal(p.mode, 'kretprobe', name);
    assert.equal(p.module, 'vfio_iommu_type1');
    assert.equal(p.tried[0].code, 'holds_module');
    assert.match(p.tried[0].reason, /would keep module vfio_iommu_type1 from unloading while attached/);
  }
  // Built-in targets keep their trampolines.
  assert.equal(get(free, 'iommu.map').mode, 'fexit');
  // Where a module's function has no kprobe to offer, the trampoline is still taken.
  const noKprobes = new Map(plan(new DataKernel({ ...DEBIAN_6_1, kprobes: false }), CATALOGUE).map((p) => [p.name, p]));
  assert.equal(get(noKprobes, 'vfio.pin').mode, 'fexit');
});

test('Debian 6.1: pin_user_pages_remote has 7 arguments, so fexit is refused and another mode is used', () => {
  const p = get(planFor(DEBIAN_6_1), 'gup.pin_remote');
  assert.equal(p.status, 'available');
  assert.notEqual(p.mode, 'fexit');
  const refused = p.tried.find((t) => t.mode === 'fexit');
  assert.ok(refused, 'the fexit candidate was tried');
  assert.match(refused.reason, /ENOTSUPP.*7 arguments.*\(6\)/);
});

test('Debian 6.12: the new GUP names; modules that are not loaded and functions compiled out', () => {
  const m = planFor(DEBIAN_6_12);
  assert.equal(get(m, 'gup.fast').target, 'gup_fast_fallback');
  assert.equal(get(m, 'gup.pin_remote').mode, 'fexit');
  const vfio = get(m, 'vfio.pin');
  assert.equal(vfio.status, 'unavailable');
  assert.match(vfio.reason!, /module vfio_iommu_type1 is not loaded/);
  const dirty = get(m, 'dirty.walk');
  assert.equal(dirty.status, 'unavailable');
  assert.match(dirty.reason!, /iova_bitmap_for_each/);
});

const SYNTHETIC: ProbeSpec[] = [
  {
    name: 'test.helper',
    description: 'a static helper that may be cloned',
    candidates: [
      { mode: 'fexit', target: 'helper', programs: [{ program: 'helper_fexit', attach: 'fexit' }], minArgs: 3 },
      { mode: 'kprobe', target: 'helper', programs: [{ program: 'helper_kprobe', attach: 'kprobe' }] },
    ],
  },
];

test('a signature that lost an argument is refused; a kprobe finds the compiler clone of a static function', () => {
  const d: KernelData = { ...DEBIAN_6_12, functions: { helper: { args: 2 } }, extraSymbols: ['helper.isra.0'] };
  // Only the clone is in kallsyms: drop the plain name.
  const k = new DataKernel(d);
  k.symbols = (name: string) => (name === 'helper' ? ['helper.isra.0'] : []);
  k.kprobe = () => ({ ok: true, errno: 0, message: '' });
  const [p] = plan(k, SYNTHETIC);
  assert.match(p.tried[0].reason, /takes 2 arguments here, the program reads argument 3/);
  assert.equal(p.mode, 'kprobe');
  assert.equal(p.target, 'helper.isra.0');
});

test('a notrace function refuses the kprobe, and the reason carries the errno', () => {
  const d: KernelData = { ...DEBIAN_6_12, trampolinesRefused: true, functions: { helper: { args: 3 } }, notrace: ['helper'] };
  const [p] = plan(new DataKernel(d), SYNTHETIC);
  assert.equal(p.status, 'unavailable');
  assert.match(p.reason!, /EPERM/);
  assert.match(p.reason!, /kprobe refused at helper: .*EINVAL/);
});

test("an IOMMU driver's operation whose name another built-in driver shares is refused, not attached to the wrong one", () => {
  // Debian's arm64 kernels build in arm-smmu (v2) and arm-smmu-v3, each with a static arm_smmu_iotlb_sync.
  const m = planFor({
    ...DEBIAN_6_12,
    functions: { ...DEBIAN_6_12.functions, arm_smmu_iotlb_sync: { args: 2 }, arm_smmu_flush_iotlb_all: { args: 1 } },
    iommus: ['arm-smmu-v3'],
    sharedNames: ['arm_smmu_iotlb_sync', 'arm_smmu_flush_iotlb_all'],
  });
  for (const name of ['iommu.iotlb_sync', 'iommu.flush_all']) {
    const p = get(m, name);
    assert.equal(p.status, 'unavailable', name);
    const arm = p.tried.filter((t) => t.target.startsWith('arm_smmu_'));
    assert.ok(arm.length > 0 && arm.every((t) => t.code === 'ambiguous'), JSON.stringify(p.tried));
    assert.match(arm[0].reason, /2 functions here are named arm_smmu_/);
  }
});

test('IOTLB probes take the operations of the IOMMU driver that translates here, and say so when none does', () => {
  for (const [iommu, sync, flush] of [
    ['intel-iommu', 'intel_iommu_tlb_sync', 'intel_flush_iotlb_all'],
    ['amd-iommu', 'amd_iommu_iotlb_sync', 'amd_iommu_flush_iotlb_all'],
  ]) {
    const m = planFor({ ...DEBIAN_6_12, iommus: [iommu] });
    assert.equal(get(m, 'iommu.iotlb_sync').target, sync, iommu);
    assert.equal(get(m, 'iommu.flush_all').target, flush, iommu);
    assert.equal(get(m, 'iommu.iotlb_sync').mode, 'fexit');
  }
  const none = get(planFor({ ...DEBIAN_6_1, iommus: [] }), 'iommu.iotlb_sync');
  assert.equal(none.status, 'unavailable');
  assert.equal(none.reasonCode, 'other_iommu');
  assert.match(none.reason!, /no IOMMU is registered here/);
  const arm = planFor({
    ...DEBIAN_6_12,
    functions: { ...DEBIAN_6_12.functions, arm_smmu_iotlb_sync: { args: 2 }, arm_smmu_flush_iotlb_all: { args: 1 } },
    iommus: ['arm-smmu-v3'],
  });
  assert.deepEqual([get(arm, 'iommu.iotlb_sync').target, get(arm, 'iommu.flush_all').target], ['arm_smmu_iotlb_sync', 'arm_smmu_flush_iotlb_all']);
  const amd = get(planFor({ ...DEBIAN_6_1, iommus: ['amd-iommu'] }), 'iommu.flush_all');
  assert.ok(amd.tried.some((t) => /intel_flush_iotlb_all is intel-iommu's; the IOMMU here is amd-iommu/.test(t.reason)), JSON.stringify(amd.tried));
});
