import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { RawEvent } from '../../src/events/types';

const SYMS = new Map<bigint, string>([
  [0x1000n, 'iommu_group_get+0x10'],
  [0x2000n, 'iommutrace_leak_take+0x1c [iommutrace_leak]'],
  [0x3000n, 'vfio_group_find_or_alloc+0x2e [vfio]'],
  [0x4000n, 'do_init_module+0x5a'],
]);
const symbolize = (a: bigint) => SYMS.get(a) ?? '0x' + a.toString(16);

function agg(attached: string[], leakAgeNs = 0, maxOutstanding?: number): Aggregator {
  return new Aggregator({ attached: new Set(attached), symbolize, leakAgeNs, limits: { maxOutstanding } });
}

const hdr = (ts: number, probe: string, extra: object = {}) => ({ ts_ns: ts, pid: 7, tid: 7, type: 0, ret: 0, comm: 'insmod', probe, ...extra });
const ref = (ts: number, probe: string, taker: bigint, tid = 7): RawEvent =>
  ({ kind: 'group_ref', ...hdr(ts, probe, { tid }), group: 0xffff0001n, group_id: 3, nr_frames: 3, dev_name: '0000:00:03.0', stack: [0x1000n, taker, 0x4000n] }) as RawEvent;

test('group references: what is never put back is leaked, with the first frame outside the IOMMU core as taker', () => {
  const a = agg(['iommu.group_get', 'iommu.group_put']);
  for (let i = 0; i < 5; i++) a.add(ref(100 + i, 'iommu.group_get', 0x2000n));
  for (let i = 0; i < 3; i++) a.add(ref(200 + i, 'iommu.group_put', 0x2000n));
  const [g] = a.summary(1_000).groups;
  assert.equal(g.group, 3);
  assert.deepEqual(g.devices, ['0000:00:03.0']);
  assert.equal(g.gets, 5);
  assert.equal(g.puts, 3);
  assert.equal(g.outstanding, 2);
  assert.equal(g.leaked.length, 2);
  assert.equal(g.held.length, 0);
  assert.equal(g.leaked[0].taker, 'iommutrace_leak_take+0x1c [iommutrace_leak]');
  assert.deepEqual(g.leaked[0].stack, ['iommu_group_get+0x10', 'iommutrace_leak_take+0x1c [iommutrace_leak]', 'do_init_module+0x5a']);
  assert.equal(g.leaked[0].age_ns, 1_000 - 100);
});

test('fentry stacks: trampoline frames before the traced function are skipped, whatever they symbolize to', () => {
  const a = agg(['iommu.group_get']);
  SYMS.set(0x6000n, 'cleanup_module+0x10496 [vfio_pci]');
  a.add({ ...(ref(1, 'iommu.group_get', 0x2000n) as object), stack: [0xffffffffc037c3acn, 0x6000n, 0x1000n, 0x2000n, 0x4000n], nr_frames: 5 } as RawEvent);
  const [g] = a.summary(10).groups;
  assert.equal(g.leaked[0].taker, 'iommutrace_leak_take+0x1c [iommutrace_leak]');
});

test('a known long-lived holder is held, not leaked; a put releases its own thread\'s reference first', () => {
  const a = agg(['iommu.group_get', 'iommu.group_put']);
  a.add(ref(10, 'iommu.group_get', 0x3000n, 1)); // VFIO binds the group on thread 1
  a.add(ref(20, 'iommu.group_get', 0x2000n, 2)); // thread 2 takes and drops one
  a.add(ref(30, 'iommu.group_put', 0x2000n, 2));
  const [g] = a.summary(100).groups;
  assert.equal(g.outstanding, 1);
  assert.equal(g.leaked.length, 0);
  assert.equal(g.held.length, 1);
  assert.equal(g.held[0].holder, 'vfio group');
  assert.equal(g.held[0].taker, 'vfio_group_find_or_alloc+0x2e [vfio]');
});

test('only references older than the leak age are listed', () => {
  const a = agg(['iommu.group_get'], 50);
  a.add(ref(10, 'iommu.group_get', 0x2000n));
  a.add(ref(90, 'iommu.group_get', 0x2000n));
  const [g] = a.summary(100).groups;
  assert.equal(g.outstanding, 2);
  assert.equal(g.leaked.length, 1);
  assert.equal(g.leaked[0].age_ns, 90);
});

test('the reference ledger is bounded: past its size new references are counted, not kept, and counts stay exact', () => {
  const a = agg(['iommu.group_get', 'iommu.group_put'], 0, 10);
  for (let i = 0; i < 15; i++) a.add(ref(i, 'iommu.group_get', 0x2000n));
  let s = a.summary(100);
  assert.equal(s.overflow.group_refs, 5);
  assert.equal(s.groups[0].leaked.length, 10);
  assert.equal(s.groups[0].gets, 15);
  assert.equal(s.groups[0].outstanding, 15);
  // Puts release the untracked references first: the kept (oldest) ones remain listed.
  for (let i = 0; i < 5; i++) a.add(ref(50 + i, 'iommu.group_put', 0x2000n, 99));
  s = a.summary(100);
  assert.equal(s.groups[0].outstanding, 10);
  assert.equal(s.groups[0].leaked.length, 10);
});

test('a storm of distinct stacks is bounded by the stack table, and says so', () => {
  const a = new Aggregator({ attached: new Set(['iommu.group_get']), symbolize, leakAgeNs: 0, limits: { maxStacks: 4 } });
  for (let i = 0; i < 10; i++) a.add(ref(i, 'iommu.group_get', 0x5000n + BigInt(i)));
  const s = a.summary(100);
  assert.equal(s.overflow.stacks, 6);
  assert.equal(s.groups[0].leaked.filter((l) => l.stack[0].startsWith('(stack not kept')).length, 6);
});

test('the group table is bounded too: gets and puts on groups past it are counted, not kept', () => {
  const a = new Aggregator({ attached: new Set(['iommu.group_get', 'iommu.group_put']), symbolize, leakAgeNs: 0, limits: { maxGroups: 4 } });
  const on = (group: number, probe: string) => ({ ...ref(group, probe, 0x2000n), group: 0xffff0000n + BigInt(group), group_id: group }) as RawEvent;
  for (let g = 0; g < 10; g++) a.add(on(g, 'iommu.group_get'));
  a.add(on(9, 'iommu.group_put'));
  a.add(on(0, 'iommu.group_put'));
  const s = a.summary(100);
  assert.deepEqual(s.groups.map((g) => g.group), [0, 1, 2, 3]);
  assert.equal(s.overflow.groups, 7, 'six gets and one put past the table');
  assert.deepEqual(s.groups.map((g) => g.outstanding), [0, 1, 1, 1]);
});

const attach = (ts: number, probe: string, domain: bigint, domainType: number, dev = '0000:00:03.0', ret = 0): RawEvent =>
  ({ kind: 'attach', ...hdr(ts, probe, { ret }), lat_ns: 1000, domain, group: 0xffff0001n, domain_type: domainType, group_id: 3, dev_name: dev, driver: 'vfio-pci' }) as RawEvent;
const dma = (ts: number, probe: string, domain: bigint, bytes: number): RawEvent =>
  ({ kind: 'dma', ...hdr(ts, probe), lat_ns: 300, domain, iova: 0x100000n, size: bytes, done: bytes, group_id: -1, pad: 0 }) as RawEvent;

test('DMA is attributed to the device whose domain it went to; unknown domains are kept, not dropped', () => {
  // As VFIO type1 does it on 6.1, in the order the exits are seen: DMA ownership
  // moves the device to a blocking domain, the group attach lands in the new
  // domain, the detach goes back to blocking, releasing ownership to the default.
  const a = agg(['iommu.attach_dev', 'iommu.attach_group', 'iommu.detach_group', 'iommu.map', 'iommu.unmap']);
  a.add(attach(1, 'iommu.attach_dev', 0xb0n, 1)); // blocking domain (an empty UNMANAGED one on 6.1)
  a.add(attach(2, 'iommu.attach_dev', 0xd0n, 1));
  a.add(attach(2, 'iommu.attach_group', 0xd0n, 1, ''));
  a.add(dma(3, 'iommu.map', 0xd0n, 2 << 20));
  a.add(dma(4, 'iommu.map', 0xd0n, 2 << 20));
  a.add(dma(5, 'iommu.unmap', 0xd0n, 4 << 20));
  a.add(dma(6, 'iommu.map', 0xeen, 4096));
  a.add(attach(7, 'iommu.attach_dev', 0xb0n, 1));
  a.add(attach(7, 'iommu.detach_group', 0xd0n, 1, ''));
  a.add(attach(8, 'iommu.attach_dev', 0xddn, 11)); // back to the DMA-FQ default domain
  a.add(attach(9, 'iommu.attach_group', 0xd1n, 1, '', -22));
  const s = a.summary(10);
  const dev = s.devices.find((d) => d.device === '0000:00:03.0')!;
  assert.deepEqual(
    { attaches: dev.attaches, detaches: dev.detaches, errors: dev.attach_errors, maps: dev.map_calls, mapped: dev.map_bytes, unmaps: dev.unmap_calls, unmapped: dev.unmap_bytes, group: dev.group, driver: dev.driver },
    { attaches: 1, detaches: 1, errors: 1, maps: 2, mapped: 4 << 20, unmaps: 1, unmapped: 4 << 20, group: 3, driver: 'vfio-pci' },
  );
  const unknown = s.devices.find((d) => d.device === 'unknown')!;
  assert.equal(unknown.domain, '0xee');
  assert.equal(unknown.map_bytes, 4096);
  assert.deepEqual(s.dma, { map_calls: 3, map_bytes: (4 << 20) + 4096, unmap_calls: 1, unmap_bytes: 4 << 20 });
});

test('with only the per-device core watched, its moves count: into a new domain an attach, back to the default a detach', () => {
  const a = agg(['iommu.attach_dev']);
  a.add(attach(1, 'iommu.attach_dev', 0xd0n, 1));
  a.add(attach(2, 'iommu.attach_dev', 0xddn, 3));
  a.add(attach(3, 'iommu.attach_dev', 0xd1n, 1, '0000:00:03.0', -22));
  const dev = a.summary(10).devices.find((d) => d.device === '0000:00:03.0')!;
  assert.deepEqual([dev.attaches, dev.detaches, dev.attach_errors], [1, 1, 1]);
});

test('without the per-device probe, group-wide attach and detach count for the devices known in the group', () => {
  const a = agg(['iommu.attach_group', 'iommu.detach_group', 'iommu.group_get']);
  a.add(ref(1, 'iommu.group_get', 0x3000n));
  a.add(attach(2, 'iommu.attach_group', 0xd0n, 1, ''));
  a.add(attach(3, 'iommu.detach_group', 0xd0n, 1, ''));
  const dev = a.summary(10).devices.find((d) => d.device === '0000:00:03.0')!;
  assert.equal(dev.attaches, 1);
  assert.equal(dev.detaches, 1);
});

const gup = (probe: string, nr: number, ret: number, fast: number): RawEvent =>
  ({ kind: 'gup', ...hdr(1, probe, { ret }), lat_ns: 100, start: 0x7f00n, nr_pages: nr, gup_flags: 0, fast_pages: fast, fast_seen: 1 }) as RawEvent;

test('GUP: the fast/slow split, partial pins and errors by errno; wrappers are not counted twice', () => {
  const a = agg(['gup.fast', 'gup.pin_fast']);
  a.add(gup('gup.fast', 16, 16, 16));
  a.add(gup('gup.fast', 16, 16, 4));
  a.add(gup('gup.fast', 16, 10, 10));
  a.add(gup('gup.fast', 16, -14, 0));
  a.add(gup('gup.pin_fast', 16, 16, 0)); // the wrapper of the same call
  const g = a.summary(1).gup;
  assert.deepEqual(g, { calls: 4, pages_requested: 64, pages_pinned: 42, fast_pages: 30, slow_pages: 12, partial: 1, errors: 1, errors_by_errno: { EFAULT: 1 } });
});

test('GUP per process keeps a workload apart from the rest of the host', () => {
  const a = agg(['gup.fast', 'gup.pin']);
  a.add(gup('gup.fast', 8, 8, 8));
  a.add({ ...gup('gup.pin', 16, 16, 0), pid: 99, comm: 'io_uring-work' } as RawEvent);
  const s = a.summary(1);
  const mine = s.gup_by_process.find((p) => p.pid === 99)!;
  assert.equal(mine.comm, 'io_uring-work');
  assert.deepEqual([mine.pages_pinned, mine.fast_pages, mine.slow_pages], [16, 0, 16]);
  assert.equal(s.gup.pages_pinned, 24);
});

test('pins per path and the pinned-page ledger per process', () => {
  const a = agg(['vfio.pin', 'vfio.unpin']);
  const pin = (probe: string, pages: number): RawEvent => ({ kind: 'pin', ...hdr(1, probe), lat_ns: 1, addr: 0n, nr_pages: pages, pinned: pages }) as RawEvent;
  a.add(pin('vfio.pin', 512));
  a.add(pin('vfio.pin', 512));
  a.add(pin('vfio.unpin', 512));
  const s = a.summary(1);
  assert.deepEqual(s.pins, { vfio_pages: 1024, iommufd_pages: 0, unpinned_pages: 512, vfio_unpinned_pages: 512, iommufd_unpinned_pages: 0, gup_unpinned_pages: 0 });
  assert.deepEqual(s.pin_ledger, [{ pid: 7, comm: 'insmod', path: 'vfio', pinned: 1024, unpinned: 512, outstanding: 512 }]);
});
