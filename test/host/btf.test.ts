import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Btf, features, Kallsyms } from '../../src/loader';
import { isRoot, need, tracefs } from '../helpers';

test('vmlinux BTF: function prototypes with argument counts, struct layouts, enum values', (t) => {
  if (!need(t, Btf.available(), 'the kernel has no BTF')) return;
  const btf = Btf.vmlinux();
  t.after(() => btf.close());
  const map = btf.func('iommu_map');
  assert.ok(map, 'iommu_map is in BTF');
  assert.deepEqual(map.params.slice(0, 4).map((p) => p.name), ['domain', 'iova', 'paddr', 'size']);
  assert.equal(map.params[0].type, 'struct iommu_domain *');
  assert.equal(btf.func('no_such_function_anywhere'), undefined);
  const dev = btf.struct('device');
  assert.ok(dev && dev.size > 100);
  const kobj = dev.fields.find((f) => f.name === 'kobj');
  assert.equal(kobj?.kind, 'struct');
  assert.ok(dev.fields.some((f) => f.name === 'kobj.name' && f.kind === 'ptr'), 'nested members are flattened');
  assert.equal(btf.enumValues('bpf_map_type')?.get('BPF_MAP_TYPE_RINGBUF'), 27);
});

test('feature probes answer for this kernel without throwing', (t) => {
  if (!need(t, isRoot(), 'needs root')) return;
  const dir = tracefs();
  assert.equal(features.hasRingBuffer(), true);
  assert.ok(features.tracepointExists(dir, 'syscalls:sys_enter_getppid'));
  assert.ok(!features.tracepointExists(dir, 'nosuch:event'));
  const r = features.canTrampoline('do_sys_openat2', 'fentry');
  assert.equal(typeof r.ok, 'boolean');
  if (!r.ok) assert.ok(r.errno > 0 && r.message.length > 0, 'a refusal carries errno and message');
  const k = features.canKprobe('do_sys_openat2');
  assert.equal(k.ok, features.kprobesBuiltIn(), k.message);
  assert.equal(features.canTrampoline('no_such_function_anywhere', 'fentry').stage, 'btf');
});

test('kallsyms of the running kernel symbolizes its own functions', (t) => {
  if (!need(t, isRoot(), 'needs root to read kernel addresses')) return;
  const k = Kallsyms.load();
  const sym = k.lookup('do_sys_openat2');
  assert.ok(sym && k.hasAddresses);
  assert.equal(k.symbolize(sym.address + 4n), 'do_sys_openat2+0x4');
});
