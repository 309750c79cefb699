import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestScript, GROUND_TRUTH } from '../../src/lab/guest-script';
import { planWorkloads } from '../../src/lab/workloads';

test('all means what one boot of each kernel can run', () => {
  assert.deepEqual(planWorkloads('debian-6.1', 'all'), { workloads: ['vfio', 'gup', 'leak'], iommu: true, bindVfio: true });
  assert.deepEqual(planWorkloads('iommufd-6.12', 'all'), { workloads: ['dirty', 'gup'], iommu: false, bindVfio: false });
  assert.deepEqual(planWorkloads('iommufd-6.12', 'none'), { workloads: [], iommu: true, bindVfio: true });
});

test('dirty needs the iommufd kernel and cannot share a boot with intel-iommu workloads', () => {
  assert.throws(() => planWorkloads('debian-6.12', 'dirty'), /needs kernel iommufd-6.12/);
  assert.throws(() => planWorkloads('iommufd-6.12', ['dirty', 'vfio']), /run them separately/);
  assert.throws(() => planWorkloads('iommufd-6.12', 'dirty', true), /without the emulated Intel IOMMU/);
});

test('the around schedule stops the command after the workloads and keeps its exit code', () => {
  const script = guestScript({
    outDir: '/tmp/o',
    cwd: '/',
    workloads: [{ name: 'vfio', argv: ['/w/vfio', '--out', GROUND_TRUTH] }],
    command: ['iommutrace', 'record', '-o', "it's.iotrace"],
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
  assert.match(script, /'iommutrace' 'record' '-o' 'it'\\''s\.iotrace' >"\$LAB\/stdout" 2>"\$LAB\/stderr" &/);
  assert.match(script, /'\/w\/vfio' '--out' "\$OUT\/ground-truth\/vfio\$sfx\.json"/);
  assert.ok(script.indexOf('run_workloads 1') < script.indexOf('kill -INT $cmd'));
  assert.match(script, /wait \$cmd\necho \$\? >"\$LAB\/exit-code"/);
});
