import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { HUGE_CLASS, sizeClass, SizeHistogram } from '../../src/aggregate/map-sizes';
import { RawEvent } from '../../src/events/types';

const hdr = (ts: number, probe: string, pid = 7) => ({ ts_ns: ts, pid, tid: pid, type: 0, ret: 0, comm: 'qemu', probe });
const attach = (domain: bigint): RawEvent =>
  ({ kind: 'attach', ...hdr(1, 'iommu.attach_group'), lat_ns: 10, domain, group: 0x10n, domain_type: 3, group_id: 3, dev_name: '0000:00:03.0', driver: 'vfio-pci' }) as RawEvent;
const map = (ts: number, domain: bigint, bytes: number, pid = 7): RawEvent =>
  ({ kind: 'dma', ...hdr(ts, 'iommu.map', pid), lat_ns: 300, domain, iova: 0x100000n, size: bytes, done: bytes, group_id: 3, pad: 0 }) as RawEvent;
const iotlb = (ts: number, probe: string, domain: bigint, bytes: number, lat: number): RawEvent =>
  ({ kind: 'iotlb', ...hdr(ts, probe), lat_ns: lat, domain, start: bytes ? 0x100000n : 0n, bytes, group_id: 3, pad: 0 }) as RawEvent;

test('size classes: the largest power of two not above the bytes, 4 KiB at least', () => {
  assert.equal(sizeClass(1), 4096);
  assert.equal(sizeClass(4096), 4096);
  assert.equal(sizeClass(8191), 4096);
  assert.equal(sizeClass(8192), 8192);
  assert.equal(sizeClass(3 << 20), 2 << 20);
  assert.equal(sizeClass(1 << 30), 1 << 30);
  const h = new SizeHistogram();
  h.add(0); // a failed map moves nothing and is no mapping
  assert.equal(h.hugeShare, null);
  h.add(8192);
  h.add(HUGE_CLASS);
  h.add(HUGE_CLASS * 2);
  assert.deepEqual(h.toJSON(), { '8192': { calls: 1, bytes: 8192 }, '2097152': { calls: 1, bytes: 2097152 }, '4194304': { calls: 1, bytes: 4194304 } });
  assert.equal(h.hugeShare, (6 << 20) / ((6 << 20) + 8192));
});

test('map_sizes per device and the huge share per device and process; unmaps are not mappings', () => {
  const a = new Aggregator({ attached: new Set(['iommu.attach_group', 'iommu.map', 'iommu.unmap']), symbolize: String, leakAgeNs: 0 });
  a.add(attach(0xd0n));
  a.add(map(2, 0xd0n, 4096));
  a.add(map(3, 0xd0n, 4096));
  a.add(map(4, 0xd0n, 2 << 20, 8));
  a.add({ ...(map(5, 0xd0n, 1 << 20) as object), probe: 'iommu.unmap' } as RawEvent);
  a.add(map(6, 0xe0n, 1 << 30)); // a domain no attach placed
  const s = a.summary(10);
  assert.deepEqual(s.map_sizes, {
    '0000:00:03.0': { '4096': { calls: 2, bytes: 8192 }, '2097152': { calls: 1, bytes: 2 << 20 } },
    unknown: { '1073741824': { calls: 1, bytes: 1 << 30 } },
  });
  const d = s.devices.find((x) => x.device === '0000:00:03.0')!;
  assert.equal(d.huge_map_share, (2 << 20) / ((2 << 20) + 8192));
  const byPid = new Map(s.processes.map((p) => [p.pid, p.huge_map_share]));
  assert.equal(byPid.get(8), 1);
  assert.equal(byPid.get(7), (1 << 30) / ((1 << 30) + 8192));
});

test('IOTLB: range syncs with their bytes and whole-domain flushes per device, with latency', () => {
  const a = new Aggregator({ attached: new Set(['iommu.attach_group', 'iommu.iotlb_sync', 'iommu.flush_all']), symbolize: String, leakAgeNs: 0 });
  a.add(attach(0xd0n));
  a.add(iotlb(2, 'iommu.iotlb_sync', 0xd0n, 2 << 20, 1000));
  a.add(iotlb(3, 'iommu.iotlb_sync', 0xd0n, 8192, 3000));
  a.add(iotlb(4, 'iommu.flush_all', 0xd0n, 0, 5000));
  a.add(iotlb(5, 'iommu.flush_all', 0xf0n, 0, 7000));
  const { iotlb: rows } = a.summary(10);
  assert.deepEqual(Object.keys(rows), ['0000:00:03.0', 'unknown']);
  const d = rows['0000:00:03.0'];
  assert.equal(d.sync_calls, 2);
  assert.equal(d.sync_bytes, (2 << 20) + 8192);
  assert.equal(d.flush_calls, 1);
  assert.equal(d.sync_latency?.count, 2);
  assert.equal(d.sync_latency?.max_ns, 3000);
  assert.equal(d.flush_latency?.max_ns, 5000);
  assert.equal(rows.unknown.flush_calls, 1);
  assert.equal(rows.unknown.sync_latency, null);
});
