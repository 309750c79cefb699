import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { MapSource, MapView, readCounter, readCounters, readHistograms, readServedDomains } from '../../src/events/maps';
import { COUNTERS, MapName, MAPS, PROBES, STRUCTS } from '../../src/generated/bpf';

/** A per-CPU map of two CPUs held in memory, laid out as the kernel hands values over (8-byte strides). */
function perCpuMap(name: MapName, valueSize: number, values: Map<string, Buffer[]>): MapView {
  const stride = (valueSize + 7) & ~7;
  const raw = (cpus: Buffer[]) => Buffer.concat(cpus.map((c) => Buffer.concat([c, Buffer.alloc(stride - c.length)])));
  return {
    name,
    maxEntries: 4096,
    perCpu: true,
    lookup: (key: Buffer) => (values.has(key.toString('hex')) ? raw(values.get(key.toString('hex'))!) : undefined),
    entries: () => [...values].map(([k, v]) => ({ key: Buffer.from(k, 'hex'), value: raw(v) })),
    perCpuValues: (b: Buffer) => [b.subarray(0, valueSize), b.subarray(stride, stride + valueSize)],
    delete: (key: Buffer) => values.delete(key.toString('hex')),
    take: (key: Buffer) => {
      const v = values.get(key.toString('hex'));
      values.delete(key.toString('hex'));
      return v && raw(v);
    },
  };
}

const u64s = (...n: number[]) => {
  const b = Buffer.alloc(8 * n.length);
  n.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 * i));
  return b;
};
const u32 = (n: number) => Buffer.from(new Uint32Array([n]).buffer).toString('hex');

test('typed readers of it_counters, it_hist and it_domain_group sum over CPUs and name what they read', () => {
  const maps: Partial<Record<MapName, MapView>> = {
    it_counters: perCpuMap('it_counters', 8, new Map([[u32(COUNTERS.ringbuf_lost), [u64s(3), u64s(4)]]])),
    // The 8 buckets from 16 (16, 18, ... 30 ns): bucket 17 counted on both CPUs, 23 on one.
    it_hist: perCpuMap('it_hist', STRUCTS.it_hist_val.size, new Map([[Buffer.from([PROBES['iommu.map'], 0, 16, 0, 3, 0, 0, 0, 0, 0x10, 0x32, 0x54, 0x80, 0x88, 0xff, 0xff]).toString('hex'), [u64s(0, 2, 0, 0, 0, 0, 0, 0), u64s(0, 1, 0, 0, 0, 0, 0, 5)]]])),
  };
  const src: MapSource = { map: (name) => maps[name]! };
  assert.equal(readCounter(src, 'ringbuf_lost'), 7);
  assert.equal(readCounters(src).hist_overflow, 0);
  // The domain is a kernel address: exact, past 2^53.
  const hist = readHistograms(src);
  assert.deepEqual(
    hist.map(({ key: _key, ...h }) => h),
    [
      { probe: PROBES['iommu.map'], bucket: 17, group_id: 3, domain: 0xffff888054321000n, count: 3 },
      { probe: PROBES['iommu.map'], bucket: 23, group_id: 3, domain: 0xffff888054321000n, count: 5 },
    ],
  );
  assert.equal(hist[0].key.toString('hex'), [...maps.it_hist!.entries()][0].key.toString('hex'), "the kernel's key, to delete it by");
  // The handles are the object's: sizes as the generated layer says.
  assert.equal(MAPS.it_counters.maxEntries, Object.keys(COUNTERS).length);
  assert.equal(MAPS.it_domain_group.value, 'it_domain_info');
});

test('it_domain_group reads as the group each domain serves, the domain exact', () => {
  const domain = Buffer.alloc(8);
  domain.writeBigUInt64LE(0xffff888054321000n);
  const info = Buffer.alloc(STRUCTS.it_domain_info.size);
  info.writeInt32LE(12, STRUCTS.it_domain_info.fields.group_id.offset);
  info.writeUInt32LE(1, STRUCTS.it_domain_info.fields.type.offset);
  const map: MapView = {
    name: 'it_domain_group',
    maxEntries: 4096,
    perCpu: false,
    lookup: () => info,
    entries: () => [{ key: domain, value: info }],
    perCpuValues: (b: Buffer) => [b],
    take: () => info,
    delete: () => false,
  };
  assert.deepEqual(readServedDomains({ map: () => map }), new Map([[0xffff888054321000n, 12]]));
});
