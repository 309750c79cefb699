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
