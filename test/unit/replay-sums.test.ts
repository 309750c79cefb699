/**
 * With a sink (top, export), a replay sums successful DMA calls as the kernel
 * does live, and hands the sums over before any other event: every table, log
 * line and rate must come out as the calls one by one would make them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { kernelSizeClass, sizeClass, sizeKey } from '../../src/aggregate/map-sizes';
import { CaptureEvent } from '../../src/capture/writer';
import { writeCapture } from '../bench/synthetic';
import { assertSumsAgree } from '../replay-sums';

const D1 = 0xffff888104a3c000n;
const D2 = 0xffff888104a3d000n;
const GROUP = 0xffff888100777000n;
const ATTACHED = ['iommu.attach_dev', 'iommu.detach_group', 'iommu.map', 'iommu.map_sg', 'iommu.unmap', 'iommu.iotlb_sync', 'iommu.group_get', 'iommu.group_put', 'vfio.pin', 'vfio.unpin'];

/**
 * A VMM's life in miniature: maps into a domain before and after its device is
 * attached, two processes (one renamed on the way), sizes from nothing to 1 GiB,
 * calls without a latency, failures, a domain of 0, a pin before each map and an
 * IOTLB sync after each unmap (as VFIO type1 makes them), unpins, group
 * references, a burst of more keys than are summed at once, and a detach.
 */
function* life(): Generator<CaptureEvent> {
  let ts = 1000;
  const head = (probe: string, pid = 4242, comm = 'qemu-a', ret = 0) => ({ ts_ns: (ts += 700 + (ts % 13)), pid, tid: pid + 1, ret, comm, probe });
  const dma = (probe: string, domain: bigint, done: number, more: { pid?: number; comm?: string; ret?: number; lat?: number } = {}): CaptureEvent => ({
    kind: 'dma', ...head(probe, more.pid, more.comm, more.ret), lat_ns: more.lat ?? 300 + ((ts * 7) % 5000), domain, iova: BigInt(ts) << 12n, size: done || 4096, done, group_id: 3, pad: 0,
  });
  const attach = (probe: string, domain: bigint): CaptureEvent => ({
    kind: 'attach', ...head(probe), lat_ns: 9000, domain, group: GROUP, domain_type: 1, group_id: 3, dev_name: probe === 'iommu.attach_dev' ? '0000:00:03.0' : '', driver: 'vfio-pci',
  });
  for (let i = 0; i < 3000; i++) yield dma('iommu.map', D1, [4096, 8192, 2 << 20][i % 3]);
  yield attach('iommu.attach_dev', D1);
  yield { kind: 'group_ref', ...head('iommu.group_get'), group: GROUP, group_id: 3, nr_frames: 1, dev_name: '0000:00:03.0', stack: [0xffffffff81000000n, ...Array(15).fill(0n)] };
  const pin = (probe: string, pinned: number, comm = 'qemu-a'): CaptureEvent => ({ kind: 'pin', ...head(probe, 4242, comm), lat_ns: 2000 + (ts % 900), addr: 0x7f0000000000n, nr_pages: Math.max(1, pinned), pinned });
  const sync = (bytes: number): CaptureEvent => ({ kind: 'iotlb', ...head('iommu.iotlb_sync'), lat_ns: 800 + (ts % 300), domain: D1, start: 0x100000n, bytes, group_id: 3, pad: 0 });
  for (let i = 0; i < 5000; i++) {
    const comm = i < 2500 ? 'qemu-a' : 'CPU 0/KVM';
    if (i % 3 === 0) yield pin('vfio.pin', i % 300 === 0 ? 0 : i % 301 === 0 ? -14 : 1, comm);
    if (i % 29 === 0) yield pin('vfio.unpin', 1, comm);
    if (i % 97 === 0) yield dma('iommu.map', D1, 4096, { comm, ret: -12 });
    else if (i % 101 === 0) yield dma('iommu.map', 0n, 4096, { comm });
    else if (i % 50 === 0) {
      yield dma('iommu.unmap', D1, 50 * 4096, { comm, lat: i % 100 === 0 ? 0 : undefined });
      yield sync(50 * 4096);
    }
    else if (i % 7 === 0) yield dma('iommu.map_sg', D2, 1 << 30, { pid: 5353, comm: 'qemu-b' });
    else if (i % 11 === 0) yield dma('iommu.map', D1, 0, { comm });
    else yield dma('iommu.map', D1, 4096 << i % 4, { comm, lat: i % 13 === 0 ? 0 : undefined });
    if (i % 500 === 0) yield { kind: 'pin', ...head('vfio.pin', 4242, comm), lat_ns: 20_000, addr: 0x7f0000000000n, nr_pages: 512, pinned: 512 };
  }
  // More keys than one sum holds: a process each.
  for (let pid = 10_000; pid < 10_600; pid++) yield dma('iommu.map', D2, 4096, { pid, comm: `worker-${pid}` });
  yield { kind: 'group_ref', ...head('iommu.group_put'), group: GROUP, group_id: 3, nr_frames: 0, dev_name: '', stack: Array(16).fill(0n) };
  yield attach('iommu.detach_group', D1);
  for (let i = 0; i < 100; i++) {
    yield dma('iommu.unmap', D1, 4096);
    yield sync(4096);
  }
}

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'replay-sums-')), 'life.iotrace');
writeCapture(file, ATTACHED, life());

test('summed or one by one, a replay gives the same tables, latencies, log and rates', async () => {
  const { one, sum } = await assertSumsAgree(file);
  // Calls went summed: the sums are what the numbers came through.
  assert.ok(sum.handed.events < one.handed.events, `${sum.handed.events} of ${one.handed.events} events handed one by one`);
  assert.ok(sum.handed.deltas > 300 && sum.handed.latency > 0, JSON.stringify(sum.handed));
  assert.ok(one.summary.dma.map_calls > 8000 && one.log.length > 40, 'the replay has maps and log lines');
});

/** VFIO type1 on 4 KiB pages: a pin before each map; at teardown an IOTLB sync after each unmap and an unpin (never summed) after that. */
function* type1(): Generator<CaptureEvent> {
  let ts = 1000;
  let iova = 0x100000000n;
  const head = (probe: string) => ({ ts_ns: (ts += 900 + (ts % 500)), pid: 4242, tid: 4243, ret: 0, comm: 'qemu-system-x86', probe });
  const pin = (probe: string): CaptureEvent => ({ kind: 'pin', ...head(probe), lat_ns: 2000 + (ts % 900), addr: 0x7f0000000000n, nr_pages: 1, pinned: 1 });
  const dma = (probe: string): CaptureEvent => ({ kind: 'dma', ...head(probe), lat_ns: 600 + (ts % 900), domain: D1, iova: (iova += 4096n), size: 4096, done: 4096, group_id: 3, pad: 0 });
  const starts = () => [...Array(20_000)].flatMap(() => [pin('vfio.pin'), dma('iommu.map')]);
  yield* starts();
  for (let i = 0; i < 20_000; i++) {
    yield dma('iommu.unmap');
    yield { kind: 'iotlb', ...head('iommu.iotlb_sync'), lat_ns: 700 + (ts % 300), domain: D1, start: iova, bytes: 4096, group_id: 3, pad: 0 };
    yield pin('vfio.unpin');
  }
  yield* starts();
}

test('calls a sum would hold one or two of go one by one for a while, and summing comes back: the same numbers', async () => {
  const teardown = path.join(path.dirname(file), 'type1.iotrace');
  writeCapture(teardown, ATTACHED, type1());
  const { one, sum } = await assertSumsAgree(teardown);
  assert.equal(one.handed.events, 140_000);
  // The teardown's 60,000 went mostly one by one (not only its 20,000 unpins); the 80,000 pins and maps around it mostly summed.
  assert.ok(sum.handed.events > 50_000 && sum.handed.events < 90_000, `${sum.handed.events} events handed one by one`);
  assert.ok(sum.handed.deltas < 5_000, `${sum.handed.deltas} sums`);
});

test('the size key of a call is the kernel\'s: its class is the call\'s size class', () => {
  for (const bytes of [1, 100, 4095, 4096, 4097, 8191, 8192, (2 << 20) - 1, 2 << 20, 1 << 30, 2 ** 40 + 5]) {
    assert.equal(kernelSizeClass(sizeKey(bytes)), sizeClass(bytes), `${bytes} bytes`);
  }
  assert.equal(sizeKey(0), 0);
  assert.equal(sizeKey(4096), 13, '1 + log2, as it_agg keys it');
});
