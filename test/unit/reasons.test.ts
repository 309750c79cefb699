import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeRecord } from '../../src/capture/header';
import { CATALOGUE } from '../../src/probes/catalogue';
import { plan, PlannedProbe } from '../../src/probes/planner';
import { variantStatus } from '../../src/probes/variants';
import { DataKernel, DEBIAN_6_1, THIS_MACHINE } from './fixtures/kernels';

function byName(probes: PlannedProbe[]): Map<string, PlannedProbe> {
  return new Map(probes.map((p) => [p.name, p]));
}

test('every reason the planner gives has a code, and so has every candidate it passed over', () => {
  for (const k of [THIS_MACHINE, DEBIAN_6_1, { ...THIS_MACHINE, tracefs: false, btf: false }]) {
    for (const p of plan(new DataKernel(k), CATALOGUE)) {
      if (p.status === 'available') {
        assert.equal(p.reasonCode, null, p.name);
        continue;
      }
      assert.ok(p.reason && p.reasonCode, `${p.name}: ${p.reason} [${p.reasonCode}]`);
      for (const t of p.tried) assert.ok(t.code && t.cause, `${p.name} ${t.mode} ${t.target}: ${t.reason}`);
      // The probe's code is its preferred candidate's.
      if (p.tried.length) assert.equal(p.reasonCode, p.tried[0].code, p.name);
    }
  }
});

test('this machine: the codes name the causes (fentry refused, no kprobes, absent, module not loaded)', () => {
  const m = byName(plan(new DataKernel(THIS_MACHINE), CATALOGUE));
  const codes = (name: string): string[] => m.get(name)!.tried.map((t) => `${t.mode}:${t.code}`);
  assert.deepEqual(codes('iommu.attach_device'), ['fexit:refused_by_kernel', 'kretprobe:no_kprobes']);
  assert.equal(m.get('vfio.pin')!.reasonCode, 'module_not_loaded');
  assert.ok(m.get('dirty.walk')!.tried.some((t) => t.code === 'absent'));
  // One cause, the same words for every probe it hits: what doctor groups by.
  const causes = new Set([...m.values()].flatMap((p) => p.tried.filter((t) => t.code === 'refused_by_kernel').map((t) => t.cause)));
  assert.deepEqual([...causes], ['fentry/fexit programs are refused by this kernel (EPERM)']);
});

test('doctor --attach decides absent or refused by the code, whatever the words say', () => {
  assert.equal(variantStatus({ status: 'unavailable', reasonCode: 'absent' }), 'absent');
  assert.equal(variantStatus({ status: 'unavailable', reasonCode: 'module_not_loaded' }), 'absent');
  assert.equal(variantStatus({ status: 'unavailable', reasonCode: 'refused_by_kernel' }), 'refused');
  assert.equal(variantStatus({ status: 'unavailable', reasonCode: 'too_many_args' }), 'refused');
  assert.equal(variantStatus({ status: 'attached', reasonCode: null }), 'attached');
});

test('probes left out by --probes are listed as not requested, and the capture header keeps the code', () => {
  const planned = plan(new DataKernel(THIS_MACHINE), CATALOGUE, (n) => n === 'iommu.map');
  const m = byName(planned);
  assert.equal(m.get('iommu.map')!.status, 'available');
  const unmap = m.get('iommu.unmap')!;
  assert.equal(unmap.status, 'unavailable');
  assert.equal(unmap.reasonCode, 'not_requested');
  assert.match(unmap.reason!, /not requested/);
  assert.equal(planned.length, CATALOGUE.filter((s) => !s.optIn).length, 'every probe but the opt-in ones is listed');
  assert.ok(!m.has('selftest.getppid'), 'opt-in probes nobody asked for stay out, as without --probes');
  assert.equal(probeRecord(unmap).reasonCode, 'not_requested');
});
