import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decoder } from '../../src/events/decode';
import { EventSchema, probeName } from '../../src/events/schema';
import { BPF_OBJECT } from '../helpers';

const schema = EventSchema.fromFile(BPF_OBJECT);

test('probe names follow the enum: first underscore becomes a dot', () => {
  assert.equal(probeName('IT_PROBE_IOMMU_MAP'), 'iommu.map');
  assert.equal(probeName('IT_PROBE_GUP_PIN_REMOTE'), 'gup.pin_remote');
  assert.equal(schema.probes.get(schema.probeIds.get('iommu.map')!), 'iommu.map');
});

test('every event type in the enum has its layout in BTF, starting with the header', () => {
  const kinds = [...schema.types.values()].map((t) => t.kind).sort();
  for (const k of ['attach', 'dirty', 'dma', 'group_ref', 'gup', 'iommu_tp', 'pin', 'selftest']) assert.ok(kinds.includes(k), k);
  for (const t of schema.types.values()) {
    assert.equal(t.layout.fields[0].name, 'hdr', `${t.kind} starts with the header`);
    assert.equal(t.layout.fields.find((f) => f.name === 'hdr.ts_ns')?.offset, 0);
  }
});

test('records decode field by field at the offsets BTF gives', () => {
  const decoder = new Decoder(schema);
  const dma = [...schema.types.values()].find((t) => t.kind === 'dma')!;
  const buf = Buffer.alloc(dma.layout.size + 16);
  const base = 16; // not at offset 0, as inside a batch
  const at = (name: string) => base + dma.layout.fields.find((f) => f.name === name)!.offset;
  buf.writeBigUInt64LE(123456789012345n, at('hdr.ts_ns'));
  buf.writeUInt32LE(4242, at('hdr.pid'));
  buf.writeUInt16LE(dma.id, at('hdr.type'));
  buf.writeUInt16LE(schema.probeIds.get('iommu.map')!, at('hdr.probe'));
  buf.writeInt32LE(-22, at('hdr.ret'));
  buf.write('qemu-kvm', at('hdr.comm'), 'latin1');
  buf.writeBigUInt64LE(0xffff888012345678n, at('domain'));
  buf.writeBigUInt64LE(0x100000000n, at('iova'));
  buf.writeBigUInt64LE(2n * 1024n * 1024n, at('size'));
  buf.writeBigUInt64LE(3n * 2n ** 40n + 7n, at('done'));
  const e = decoder.decode(buf, base, dma.layout.size) as unknown as Record<string, unknown>;
  assert.equal(e.kind, 'dma');
  assert.equal(e.ts_ns, 123456789012345);
  assert.equal(e.pid, 4242);
  assert.equal(e.probe, 'iommu.map');
  assert.equal(e.ret, -22);
  assert.equal(e.comm, 'qemu-kvm');
  assert.equal(e.domain, 0xffff888012345678n, 'addresses decode exactly, as bigint');
  assert.equal(e.iova, 0x100000000n);
  assert.equal(e.size, 2 * 1024 * 1024);
  assert.equal(e.done, 3 * 2 ** 40 + 7);
});

test('short and unknown records are refused, not misread', () => {
  const decoder = new Decoder(schema);
  const buf = Buffer.alloc(256);
  assert.equal(decoder.decode(buf, 0, 8), undefined);
  buf.writeUInt16LE(999, schema.field(schema.header, 'type').offset);
  assert.equal(decoder.decode(buf, 0, 256), undefined);
});

test('a record decodes the same wherever it lies: aligned, unaligned, in a pooled buffer, after another buffer', () => {
  const decoder = new Decoder(schema);
  const group = [...schema.types.values()].find((t) => t.kind === 'group_ref')!;
  const record = Buffer.alloc(group.layout.size);
  const at = (name: string) => group.layout.fields.find((f) => f.name === name)!.offset;
  record.writeBigUInt64LE(5_000_000_123n, at('hdr.ts_ns'));
  record.writeUInt32LE(77, at('hdr.tid'));
  record.writeUInt16LE(group.id, at('hdr.type'));
  record.writeUInt16LE(schema.probeIds.get('iommu.group_get')!, at('hdr.probe'));
  record.write('vfio-test', at('hdr.comm'), 'latin1');
  record.writeBigUInt64LE(0xffff8881deadbee8n, at('group'));
  record.writeInt32LE(-1, at('group_id'));
  record.writeBigUInt64LE(0xffffffffc0a01234n, at('stack') + 8);
  const expected = decoder.decode(record, 0, record.length) as unknown as Record<string, unknown>;
  assert.equal(expected.group, 0xffff8881deadbee8n);
  assert.equal(expected.group_id, -1);
  assert.equal((expected.stack as bigint[])[1], 0xffffffffc0a01234n);
  for (const shift of [0, 1, 3, 4, 8, 13]) {
    const holder = Buffer.alloc(record.length + 32);
    record.copy(holder, shift);
    assert.deepEqual(decoder.decode(holder, shift, record.length), expected, `record at byte ${shift}`);
    // Buffer.from(string) slices Node's shared pool: its byteOffset is arbitrary.
    const pooled = Buffer.concat([Buffer.from('x'.repeat(shift + 1)), record]);
    assert.deepEqual(decoder.decode(pooled, shift + 1, record.length), expected, `pooled, record at byte ${shift + 1}`);
  }
});
