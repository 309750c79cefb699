import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestScript, GROUND_TRUTH, type GuestScript } from '../../src/lab/guest-script';
import { GO, HELD, planWorkloads } from '../../src/lab/workloads';

/** A guest script with the around schedule: what the tests record with. */
function aroundScript(workloads: GuestScript['workloads'], command: string[]): string {
  return guestScript({
    outDir: '/tmp/o',
    cwd: '/',
    workloads,
    command,
    schedule: 'around',
    readyPattern: 'recording',
    readyTimeoutMs: 1000,
    readyDelayMs: 0,
    stopSignal: 'INT',
    repeat: false,
    interactive: false,
    env: {},
    path: [],
  });
}

test('all means what one boot of each kernel can run', () => {
  assert.deepEqual(planWorkloads('debian-6.1', 'all'), { workloads: ['vfio', 'gup', 'leak'], iommu: true, bindVfio: true, bindDriver: false });
  assert.deepEqual(planWorkloads('iommufd-6.12', 'all'), { workloads: ['dirty', 'gup'], iommu: false, bindVfio: false, bindDriver: false });
  assert.deepEqual(planWorkloads('iommufd-6.12', 'none'), { workloads: [], iommu: true, bindVfio: true, bindDriver: false });
});

test('netdev leaves the device on its own driver and cannot share a boot with VFIO users', () => {
  assert.deepEqual(planWorkloads('debian-6.12', ['netdev', 'gup']), { workloads: ['netdev', 'gup'], iommu: true, bindVfio: false, bindDriver: true });
  assert.throws(() => planWorkloads('debian-6.1', ['netdev', 'qemu']), /on vfio-pci and netdev on its own driver: run them separately/);
  assert.throws(() => planWorkloads('debian-6.1', 'cdev'), /needs kernel iommufd-6.12/);
});

test('an early workload starts before the command, which waits until it is set up; it goes on with the others', () => {
  const script = aroundScript(
    [
      { name: 'premap', argv: ['/w/vfio', '--held', HELD, '--go', GO, '--out', GROUND_TRUTH], early: true },
      { name: 'gup', argv: ['/w/gup', '--out', GROUND_TRUTH] },
    ],
    ['iommutrace', 'record'],
  );
  assert.match(script, /'\/w\/vfio' '--held' "\$LAB\/held-premap" '--go' "\$LAB\/go" '--out' "\$OUT\/ground-truth\/premap\$sfx\.json"/);
  const at = (s: string): number => {
    const i = script.indexOf(s);
    assert.ok(i >= 0, `${s} is in the script:\n${script}`);
    return i;
  };
  // premap is set up, then the command starts and is ready, then premap goes on and gup runs.
  assert.ok(at('held-premap" ] && kill -0') < at("'iommutrace' 'record'"));
  assert.ok(at("'iommutrace' 'record'") < at('touch "$LAB/go"'));
  assert.ok(at('touch "$LAB/go"') < at('run_workloads 1'));
  assert.ok(at('run_workloads 1') < at('wait $early_premap'));
  assert.ok(at('wait $early_premap') < at('kill -INT $cmd'));
  // Only the other workloads are in run_workloads.
  const fn = script.slice(at('run_workloads() {'), script.indexOf('}\n', at('run_workloads() {')));
  assert.doesNotMatch(fn, /premap/);
  assert.match(fn, /\/w\/gup/);
});

test('dirty needs the iommufd kernel and cannot share a boot with intel-iommu workloads', () => {
  assert.throws(() => planWorkloads('debian-6.12', 'dirty'), /needs kernel iommufd-6.12/);
  assert.throws(() => planWorkloads('iommufd-6.12', ['dirty', 'vfio']), /run them separately/);
  assert.throws(() => planWorkloads('iommufd-6.12', 'dirty', true), /without the emulated Intel IOMMU/);
});

test('the around schedule stops the command after the workloads and keeps its exit code', () => {
  const script = aroundScript([{ name: 'vfio', argv: ['/w/vfio', '--out', GROUND_TRUTH] }], ['iommutrace', 'record', '-o', "it's.iotrace"]);
  assert.match(script, /'iommutrace' 'record' '-o' 'it'\\''s\.iotrace' >"\$LAB\/stdout" 2>"\$LAB\/stderr" &/);
  assert.match(script, /'\/w\/vfio' '--out' "\$OUT\/ground-truth\/vfio\$sfx\.json"/);
  assert.ok(script.indexOf('run_workloads 1') < script.indexOf('kill -INT $cmd'));
  assert.match(script, /wait \$cmd\necho \$\? >"\$LAB\/exit-code"/);
});
