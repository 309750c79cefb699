import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kallsyms } from '../../src/loader/kallsyms';

const TEXT = [
  'ffffffff81000000 T _stext',
  'ffffffff81234500 T iommu_group_get',
  'ffffffff81234600 t lockless_pages_from_mm.isra.0',
  'ffffffff81234700 D some_data',
  'ffffffffc0a01000 t vfio_pin_pages_remote\t[vfio_iommu_type1]',
  'ffffffffc0a02000 t vfio_unpin_pages_remote\t[vfio_iommu_type1]',
  'ffffffffc0a05040 d dma_entry_limit\t[vfio_iommu_type1]',
].join('\n');

test('kallsyms: text symbols by name, compiler clones, module names', () => {
  const k = new Kallsyms(TEXT);
  assert.ok(k.has('iommu_group_get'));
  assert.ok(!k.has('some_data'), 'data symbols are not kept');
  assert.deepEqual(k.variants('lockless_pages_from_mm'), ['lockless_pages_from_mm.isra.0']);
  assert.equal(k.lookup('vfio_pin_pages_remote')?.module, 'vfio_iommu_type1');
  assert.ok(k.hasAddresses);
});

test('kallsyms: a module\'s data symbol (a parameter a probe reads) by module and name', () => {
  const k = new Kallsyms(TEXT);
  assert.equal(k.moduleDataAddress('vfio_iommu_type1', 'dma_entry_limit'), 0xffffffffc0a05040n);
  assert.equal(k.moduleDataAddress('vfio', 'dma_entry_limit'), undefined, 'another module\'s is not it');
  assert.equal(k.moduleDataAddress('vfio_iommu_type1', 'vfio_pin_pages_remote'), undefined, 'text is not data');
  assert.ok(!k.has('dma_entry_limit'), 'and data never passes for a function');
  const hidden = new Kallsyms(TEXT.replace(/^[0-9a-f]+/gm, '0000000000000000'));
  assert.equal(hidden.moduleDataAddress('vfio_iommu_type1', 'dma_entry_limit'), undefined, 'a zeroed address (no CAP_SYSLOG) is unknown');
});

test('kallsyms: addresses symbolize to function+offset, with the module', () => {
  const k = new Kallsyms(TEXT);
  assert.equal(k.symbolize(0xffffffff8123451cn), 'iommu_group_get+0x1c');
  assert.equal(k.symbolize(0xffffffffc0a0102en), 'vfio_pin_pages_remote+0x2e [vfio_iommu_type1]');
  assert.equal(k.symbolize(0x10n), '0x10', 'below every symbol stays an address');
  assert.equal(k.symbolize(0xffffffffd0000000n), '0xffffffffd0000000', 'far past the last symbol (a BPF trampoline) stays an address');
});

test('an address past its module\'s end (a trampoline, a BPF program) stays an address', () => {
  const k = new Kallsyms(TEXT, 'vfio_iommu_type1 12288 0 - Live 0xffffffffc0a00000\n');
  assert.equal(k.symbolize(0xffffffffc0a02100n), 'vfio_unpin_pages_remote+0x100 [vfio_iommu_type1]');
  assert.equal(k.symbolize(0xffffffffc0a03010n), '0xffffffffc0a03010');
});

test('kallsyms without privileges (all addresses zero) does not pretend to symbolize', () => {
  const k = new Kallsyms(TEXT.replace(/^[0-9a-f]+/gm, '0000000000000000'));
  assert.ok(!k.hasAddresses);
  assert.ok(k.has('iommu_group_get'));
  assert.equal(k.symbolize(0xffffffff8123451cn), '0xffffffff8123451c');
});

test('kallsyms read a few bytes at a time (lines cut between reads) is the same table', () => {
  const bytes = Buffer.from(TEXT + '\n', 'latin1');
  let at = 0;
  // 7 bytes a read: every line is cut somewhere.
  const k = new Kallsyms((into) => {
    const n = bytes.copy(into, 0, at, Math.min(bytes.length, at + Math.min(7, into.length)));
    at += n;
    return n;
  }, 'vfio_iommu_type1 12288 0 - Live 0xffffffffc0a00000\n');
  assert.equal(k.size, 5);
  assert.deepEqual(k.variants('lockless_pages_from_mm'), ['lockless_pages_from_mm.isra.0']);
  assert.equal(k.symbolize(0xffffffffc0a0102en), 'vfio_pin_pages_remote+0x2e [vfio_iommu_type1]');
  assert.equal(k.moduleDataAddress('vfio_iommu_type1', 'dma_entry_limit'), 0xffffffffc0a05040n);
});

test('kallsyms of one module alone keeps that module\'s symbols', () => {
  const k = new Kallsyms(TEXT, '', new Set(['vfio_iommu_type1']));
  assert.ok(!k.has('iommu_group_get'));
  assert.equal(k.lookup('vfio_unpin_pages_remote')?.address, 0xffffffffc0a02000n);
  assert.equal(k.count('vfio_pin_pages_remote'), 1);
});
