import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { bucketOf } from '../../src/aggregate/loglinear';
import { MapSource, MapView } from '../../src/events/maps';
import { RawEvent } from '../../src/events/types';
import { exportDump } from '../../src/export/dump';
import type { Calls } from '../../src/aggregate/calls';
import { MapName, MAPS, PROBES, ProbeName, STRUCTS } from '../../src/generated/bpf';
import { KernelAggregates } from '../../src/source/kernel-aggregates';

/*
 * Aggregated mode against record mode on the same calls: a stand-in kernel fills
 * it_agg and it_hist per CPU, laid out as the generated layer says (as
 * bpf/include/common.h it_agg_call() does), and also makes the events record mode
 * would get; the aggregator fed the read deltas must say what the one fed the
 * events says, number for number.
 */

const BASE = 5_000_000_000n; // CLOCK_MONOTONIC at the source's start
const CPUS = 2;
const DOMAIN = 0xffff888012340000n;
const KERNEL_DOMAIN = 0xffff888099990000n;

type Call = { probe: ProbeName; ts: number; pid: number; tid: number; comm: string; lat: number; domain?: bigint; gid?: number; amount: number; asked: number; fast?: number };

/** A per-CPU hash in memory, handed over as the kernel does (values CPU after CPU, 8-aligned). */
class PerCpuHash implements MapView {
  readonly perCpu = true;
  get maxEntries(): number {
    return MAPS[this.name as MapName].maxEntries;
  }
  readonly values = new Map<string, Buffer[]>();
  constructor(
    readonly name: string,
    private readonly valueSize: number,
  ) {}
  get stride(): number {
    return (this.valueSize + 7) & ~7;
  }
  slot(key: Buffer, cpu: number): Buffer {
    let v = this.values.get(key.toString('hex'));
    if (!v) this.values.set(key.toString('hex'), (v = Array.from({ length: CPUS }, () => Buffer.alloc(this.valueSize))));
    return v[cpu];
  }
  lookup = (key: Buffer) => this.entries().find((e) => e.key.equals(key))?.value;
  delete = (key: Buffer) => this.values.delete(key.toString('hex'));
  /** Runs just before a take: the kernel adding to the key between the read of all and the take of one. */
  beforeTake?: (key: Buffer) => void;
  take = (key: Buffer) => {
    this.beforeTake?.(key);
    const v = this.lookup(key);
    this.delete(key);
    return v;
  };
  entries = () => [...this.values].map(([k, v]) => ({ key: Buffer.from(k, 'hex'), value: Buffer.concat(v.map((c) => Buffer.concat([c, Buffer.alloc(this.stride - c.length)]))) }));
  perCpuValues = (b: Buffer) => Array.from({ length: CPUS }, (_, i) => b.subarray(i * this.stride, i * this.stride + this.valueSize));
}

/** A plain hash in memory (it_domain_group: a domain to {group_id, type}). */
class Hash implements MapView {
  readonly perCpu = false;
  get maxEntries(): number {
    return MAPS[this.name as MapName].maxEntries;
  }
  readonly values = new Map<string, Buffer>();
  constructor(readonly name: string) {}
  lookup = (key: Buffer) => this.values.get(key.toString('hex'));
  delete = (key: Buffer) => this.values.delete(key.toString('hex'));
  take = (key: Buffer) => {
    const v = this.lookup(key);
    this.delete(key);
    return v;
  };
  entries = () => [...this.values].map(([k, v]) => ({ key: Buffer.from(k, 'hex'), value: v }));
  perCpuValues = (b: Buffer) => [b];
  /** What attach.bpf.c does: learn (the domain now serves `gid`) or, with no gid, forget. */
  serve(domain: bigint, gid?: number): void {
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(domain);
    if (gid === undefined) {
      this.values.delete(key.toString('hex'));
      return;
    }
    const v = Buffer.alloc(STRUCTS.it_domain_info.size);
    v.writeInt32LE(gid, STRUCTS.it_domain_info.fields.group_id.offset);
    this.values.set(key.toString('hex'), v);
  }
}

/** The maps a KernelAggregates reads, with the workload's domains learned. */
function mapsOf(agg: PerCpuHash, hist: PerCpuHash, domains = new Hash('it_domain_group'), freed = new Hash('it_freed')): MapSource {
  domains.serve(DOMAIN, 3);
  domains.serve(KERNEL_DOMAIN, 7);
  const maps: Record<string, MapView> = { it_agg: agg, it_hist: hist, it_domain_group: domains, it_freed: freed };
  return { map: (name) => maps[name] };
}

/** What domains.bpf.c does when the kernel frees a domain: forgets it, and says so in it_freed. */
function free(domains: Hash, freed: Hash, domain: bigint): void {
  domains.serve(domain);
  const key = Buffer.alloc(8);
  key.writeBigUInt64LE(domain);
  freed.values.set(key.toString('hex'), Buffer.alloc(8));
}

function add64(b: Buffer, off: number, n: number | bigint): void {
  b.writeBigUInt64LE(b.readBigUInt64LE(off) + BigInt(n), off);
}

/** The kernel's side of one call in aggregated mode (it_agg_call), on `cpu`. */
function kernelCall(agg: PerCpuHash, hist: PerCpuHash, c: Call, cpu: number, tgid: number): void {
  const ka = STRUCTS.it_agg_key;
  const key = Buffer.alloc(ka.size);
  key.writeUInt16LE(PROBES[c.probe], ka.fields.probe.offset);
  key.writeUInt8(c.amount ? 32 - Math.clz32(c.amount) : 0, ka.fields.size_class.offset);
  key.writeInt32LE(c.gid ?? -1, ka.fields.group_id.offset);
  key.writeUInt32LE(tgid, ka.fields.tgid.offset);
  key.writeBigUInt64LE(c.domain ?? 0n, ka.fields.domain.offset);
  const f = STRUCTS.it_agg_val.fields;
  const v = agg.slot(key, cpu);
  const now = BASE + BigInt(c.ts);
  if (v.readBigUInt64LE(f.first_ns.offset) === 0n) {
    v.writeBigUInt64LE(now, f.first_ns.offset);
    v.writeUInt32LE(c.tid, f.tid.offset);
    v.write(c.comm, f.comm.offset, 'latin1');
  }
  add64(v, f.calls.offset, 1);
  add64(v, f.amount.offset, c.amount);
  add64(v, f.asked.offset, c.asked);
  add64(v, f.fast.offset, c.fast ?? 0);
  add64(v, f.partial.offset, c.probe.startsWith('gup.') && c.amount < c.asked ? 1 : 0);
  v.writeBigUInt64LE(now, f.last_ns.offset);
  if (!c.lat) return;
  add64(v, f.lat_sum.offset, c.lat);
  if (BigInt(c.lat) > v.readBigUInt64LE(f.lat_max.offset)) v.writeBigUInt64LE(BigInt(c.lat), f.lat_max.offset);
  const kh = STRUCTS.it_hist_key;
  const hk = Buffer.alloc(kh.size);
  hk.writeUInt16LE(PROBES[c.probe], kh.fields.probe.offset);
  const b = bucketOf(c.lat);
  hk.writeUInt16LE(b & ~7, kh.fields.bucket.offset);
  hk.writeInt32LE(c.gid ?? -1, kh.fields.group_id.offset);
  hk.writeBigUInt64LE(c.domain ?? 0n, kh.fields.domain.offset);
  const count = STRUCTS.it_hist_val.fields.count;
  add64(hist.slot(hk, cpu), count.offset + (b & 7) * count.size, 1);
}

/** The same call as record mode's event. */
function eventOf(c: Call): RawEvent {
  const hdr = { ts_ns: c.ts, pid: c.pid, tid: c.tid, ret: 0, comm: c.comm, probe: c.probe };
  if (c.probe.startsWith('iommu.')) return { kind: 'dma', ...hdr, lat_ns: c.lat, domain: c.domain!, iova: 0n, size: c.asked, done: c.amount, group_id: c.gid!, pad: 0 } as RawEvent;
  if (c.probe.startsWith('gup.') && c.probe !== 'gup.unpin') {
    return { kind: 'gup', ...hdr, ret: c.amount, lat_ns: c.lat, start: 0n, nr_pages: c.asked, gup_flags: 0, fast_pages: c.fast ?? 0, fast_seen: 1 } as RawEvent;
  }
  return { kind: 'pin', ...hdr, lat_ns: c.lat, addr: 0n, nr_pages: c.asked, pinned: c.amount } as RawEvent;
}

const ATTACHED = ['iommu.attach_group', 'iommu.attach_dev', 'iommu.map', 'iommu.unmap', 'gup.fast', 'gup.pin_fast', 'vfio.pin', 'vfio.unpin', 'gup.unpin'];

const attach: RawEvent = {
  kind: 'attach', ts_ns: 10, pid: 300, tid: 300, ret: 0, comm: 'qemu', probe: 'iommu.attach_group',
  lat_ns: 900, domain: DOMAIN, group: 0xffff0001n, domain_type: 1, group_id: 3, dev_name: '0000:00:03.0', driver: 'vfio-pci',
} as RawEvent;

/** A VMM mapping and pinning on two threads, a kernel driver's DMA, and GUP. */
function workload(): Call[] {
  const calls: Call[] = [];
  for (let i = 0; i < 400; i++) {
    const ts = 1_000 + i * 10;
    const size = 4096 << (i % 4);
    const vmm = { pid: 300, tid: 300 + (i % 2), comm: i % 2 ? 'CPU 0/KVM' : 'qemu' };
    calls.push({ probe: 'iommu.map', ts, ...vmm, lat: 200 + ((i * 37) % 5000), domain: DOMAIN, gid: 3, amount: size, asked: size });
    if (i % 3 === 0) calls.push({ probe: 'iommu.unmap', ts: ts + 1, ...vmm, lat: 150 + i, domain: DOMAIN, gid: 3, amount: size, asked: size });
    if (i % 5 === 0) calls.push({ probe: 'vfio.pin', ts: ts + 2, ...vmm, lat: 5000 + i, amount: 1 + (i % 7), asked: 1 + (i % 7) });
    // A kernel driver's DMA-API maps run wherever: no process counts them.
    calls.push({ probe: 'iommu.map', ts: ts + 3, pid: 1000 + (i % 9), tid: 1000 + (i % 9), comm: 'kworker', lat: 90 + (i % 50), domain: KERNEL_DOMAIN, gid: 7, amount: 4096, asked: 4096 });
    if (i % 4 === 0) {
      const asked = 16;
      const pinned = i % 8 === 0 ? 16 : 12;
      calls.push({ probe: 'gup.pin_fast', ts: ts + 4, pid: 500, tid: 500, comm: 'fio', lat: 700 + i, amount: pinned, asked });
      calls.push({ probe: 'gup.fast', ts: ts + 5, pid: 500, tid: 500, comm: 'fio', lat: 600 + i, amount: pinned, asked, fast: Math.min(pinned, 10) });
      calls.push({ probe: 'gup.unpin', ts: ts + 6, pid: 500, tid: 500, comm: 'fio', lat: 0, amount: pinned, asked: pinned });
    }
  }
  return calls;
}

function sinks() {
  const a = new Aggregator({ attached: new Set(ATTACHED), symbolize: () => '', leakAgeNs: 0, hostDevices: [{ device: '0000:00:02.0', group: 7, driver: 'e1000e', path: 'kernel', iommu_driver: 'intel-iommu' } as never] });
  const snapshot: RawEvent = { ...attach, probe: 'iommu.group_snapshot', ts_ns: 5, pid: 1, tid: 1, comm: 'init', domain: KERNEL_DOMAIN, domain_type: 3, group_id: 7, dev_name: '0000:00:02.0', driver: 'e1000e', lat_ns: 0 } as RawEvent;
  for (const e of [snapshot, attach]) a.add(e);
  return { a };
}

test('aggregated mode: deltas read from it_agg and it_hist per CPU give the numbers of every event', () => {
  const calls = workload();
  const rec = sinks();
  for (const c of calls) {
    const e = eventOf(c);
    rec.a.add(e);
  }

  const aggMap = new PerCpuHash('it_agg', STRUCTS.it_agg_val.size);
  const histMap = new PerCpuHash('it_hist', STRUCTS.it_hist_val.size);
  const reader = new KernelAggregates(mapsOf(aggMap, histMap), BASE, () => true);
  const live = sinks();
  const deliver = () => {
    const sums = reader.read();
    for (const c of sums) live.a.addCalls(c);
    return sums.filter((c) => c.calls > 0).length;
  };
  // Three reads: mid-run (two CPUs in use), again with nothing new, and at the end.
  calls.forEach((c, i) => {
    if (i === Math.floor(calls.length / 2)) {
      assert.ok(deliver() > 0);
      assert.equal(deliver(), 0, 'nothing new: no delta');
    }
    const kernelDomain = c.domain === KERNEL_DOMAIN;
    kernelCall(aggMap, histMap, c, i % CPUS, kernelDomain ? 0 : c.pid);
  });
  deliver();

  const want = exportDump(rec.a, 1e6, 0);
  const got = exportDump(live.a, 1e6, 0);
  // Histogram minimums are not exported, and kept to the bucket in aggregated mode.
  assert.deepEqual(got, want);
  assert.equal(got.events.total, calls.length + 2);
  const dev = got.devices.find((d) => d.device === '0000:00:03.0')!;
  assert.equal(dev.map_calls, 400);
  assert.equal(got.processes.length, 1, 'the kernel driver\'s DMA belongs to no process');
  assert.equal(got.processes[0].pid, 300);
  assert.equal(got.processes[0].comm, 'qemu', 'the comm of the first call');
  assert.equal(got.processes[0].first_map_ns, 1_000);
  assert.ok(got.device_latency['iommu.map']['0000:00:03.0'].buckets.length > 10);
  assert.ok(got.gup.partial > 0 && got.gup.slow_pages > 0 && got.pins.gup_unpinned_pages > 0);
});

test('aggregated mode: an exited process\'s entries are deleted once their last sums are read, and nothing is lost or counted twice', () => {
  const aggMap = new PerCpuHash('it_agg', STRUCTS.it_agg_val.size);
  const histMap = new PerCpuHash('it_hist', STRUCTS.it_hist_val.size);
  const running = new Set([300, 301]);
  let asked: number[] = [];
  const reader = new KernelAggregates(mapsOf(aggMap, histMap), BASE, (t) => (asked.push(t), running.has(t)));
  const calls = () => { let sum = 0; for (const d of sumsOf(reader.read())) if (d.pid === 301) sum += d.calls; return sum; };
  const map = (pid: number, ts: number, cpu: number) =>
    kernelCall(aggMap, histMap, { probe: 'iommu.map', ts, pid, tid: pid, comm: 'vm', lat: 100, domain: DOMAIN, gid: 3, amount: 4096, asked: 4096 }, cpu, pid);
  const keysOf = (pid: number) => readPids(aggMap).filter((p) => p === pid).length;

  for (let i = 0; i < 5; i++) map(301, 1_000 + i, i % CPUS);
  map(300, 2_000, 0);
  assert.equal(calls(), 5);
  // 301 maps twice more: the next read hands out those two ...
  map(301, 3_000, 1);
  map(301, 3_001, 0);
  assert.equal(calls(), 2, 'the calls are read');
  // ... its sums grew at that read, so the next does not ask /proc about it; it idles ...
  asked = [];
  assert.equal(calls(), 0);
  assert.deepEqual(asked, [300], 'only the process that idled is looked up');
  // ... maps once more and exits: the next read asks, finds it gone, and takes its last sums and the entry.
  map(301, 3_002, 1);
  running.delete(301);
  assert.equal(keysOf(301), 1);
  assert.equal(calls(), 1, 'the call made before exiting is read');
  assert.equal(keysOf(301), 0, 'the exited process\'s entry is gone from the map');
  assert.equal(keysOf(300), 1, 'a running process keeps its entry');
  // ... and nothing is counted again.
  assert.equal(calls(), 0);
  // The pid used again by a new process starts from zero, not from the old sums.
  running.add(301);
  map(301, 4_000, 0);
  assert.equal(calls(), 1);
});

test('aggregated mode: where processes cannot be seen (another pid namespace), nothing is deleted', () => {
  const aggMap = new PerCpuHash('it_agg', STRUCTS.it_agg_val.size);
  const histMap = new PerCpuHash('it_hist', STRUCTS.it_hist_val.size);
  const reader = new KernelAggregates(mapsOf(aggMap, histMap), BASE, null);
  kernelCall(aggMap, histMap, { probe: 'iommu.map', ts: 1, pid: 42, tid: 42, comm: 'x', lat: 1, domain: DOMAIN, gid: 3, amount: 4096, asked: 4096 }, 0, 42);
  reader.read();
  reader.read();
  assert.equal(aggMap.values.size, 1);
});

test("aggregated mode: a domain's keys are deleted once it stops serving its group, after their last counts, and a domain made anew counts from zero", () => {
  const aggMap = new PerCpuHash('it_agg', STRUCTS.it_agg_val.size);
  const histMap = new PerCpuHash('it_hist', STRUCTS.it_hist_val.size);
  const domains = new Hash('it_domain_group');
  const reader = new KernelAggregates(mapsOf(aggMap, histMap, domains), BASE, () => true);
  const UNKNOWN = 0xffff888055550000n;
  const call = (domain: bigint, gid: number, pid: number, lat: number) =>
    kernelCall(aggMap, histMap, { probe: 'iommu.map', ts: 1, pid, tid: pid, comm: 'x', lat, domain, gid, amount: 4096, asked: 4096 }, 0, pid);
  const latencyOf = (r: ReturnType<KernelAggregates['read']>, domain: bigint) => bucketsOf(r).filter((l) => l.domain === domain).reduce((a, l) => a + l.count, 0);
  const histDomains = () => new Set(histMap.entries().map((e) => e.key.readBigUInt64LE(STRUCTS.it_hist_key.fields.domain.offset)));

  call(DOMAIN, 3, 300, 100);
  call(KERNEL_DOMAIN, 7, 0, 100);
  call(UNKNOWN, -1, 0, 100);
  assert.equal(latencyOf(reader.read(), DOMAIN), 1);
  // The VM's last calls, then its domain is detached; the kernel driver's device is unbound too.
  call(DOMAIN, 3, 300, 5000);
  call(KERNEL_DOMAIN, 7, 0, 5000);
  domains.serve(DOMAIN);
  domains.serve(KERNEL_DOMAIN);
  const first = reader.read();
  assert.equal(latencyOf(first, DOMAIN), 1, 'the calls before the detach are read');
  assert.equal(latencyOf(first, KERNEL_DOMAIN), 1);
  assert.ok(histDomains().has(DOMAIN), 'kept for one read more: a call that looked its group up may still be adding');
  const second = reader.read();
  assert.equal(bucketsOf(second).length + sumsOf(second).length, 0, 'nothing counted twice');
  assert.deepEqual(histDomains(), new Set([UNKNOWN]), 'only the never-learned domain keeps its keys');
  assert.deepEqual(reader.use, [
    { map: 'it_agg', entries: 2, maxEntries: 4096 },
    { map: 'it_hist', entries: 1, maxEntries: 2048, domains: [`0x${UNKNOWN.toString(16)}`] },
  ], 'what is left, as the exporter shows it');
  assert.equal(aggMap.entries().filter((e) => e.key.readUInt32LE(STRUCTS.it_agg_key.fields.tgid.offset) === 0).length, 1, "the unbound driver's sums are gone, the unknown domain's kept");
  // The same address, a new domain for the same group: its counts start from zero.
  domains.serve(DOMAIN, 3);
  call(DOMAIN, 3, 300, 100);
  assert.equal(latencyOf(reader.read(), DOMAIN), 1);
});

test("aggregated mode: a freed domain's keys go at the first read after the free, whatever their group or process, after their last counts", () => {
  const aggMap = new PerCpuHash('it_agg', STRUCTS.it_agg_val.size);
  const histMap = new PerCpuHash('it_hist', STRUCTS.it_hist_val.size);
  const domains = new Hash('it_domain_group');
  const freed = new Hash('it_freed');
  const reader = new KernelAggregates(mapsOf(aggMap, histMap, domains, freed), BASE, () => true);
  // A VM's domain: its maps (by its process), and the IOTLB syncs of its last unmaps,
  // made after the detach (no group: the kernel summed them under -1).
  const call = (probe: 'iommu.map' | 'iommu.iotlb_sync', gid: number, pid: number) =>
    kernelCall(aggMap, histMap, { probe, ts: 1, pid, tid: pid, comm: 'x', lat: 100, domain: DOMAIN, gid, amount: 4096, asked: 4096 }, 0, pid);
  call('iommu.map', 3, 300);
  assert.equal(sumsOf(reader.read()).reduce((a, c) => a + c.calls, 0), 1);
  call('iommu.map', 3, 300);
  call('iommu.iotlb_sync', -1, 0);
  call('iommu.iotlb_sync', -1, 0);
  free(domains, freed, DOMAIN);
  // A call landing between the read of the whole table and the take of its key (in the
  // kernel, a new domain at the freed one's address) is in the taken value, not lost.
  aggMap.beforeTake = () => {
    aggMap.beforeTake = undefined;
    call('iommu.map', 3, 300);
  };
  const last = reader.read();
  assert.equal(sumsOf(last).reduce((a, c) => a + c.calls, 0), 4, 'the calls before the free are read, once, and the racing one');
  assert.equal(bucketsOf(last).reduce((a, b) => a + b.count, 0), 4);
  const left = (m: PerCpuHash, field: number) => m.entries().filter((e) => e.key.readBigUInt64LE(field) === DOMAIN).length;
  assert.equal(left(aggMap, STRUCTS.it_agg_key.fields.domain.offset), 0, "no it_agg key names the freed domain, its process's included");
  assert.equal(left(histMap, STRUCTS.it_hist_key.fields.domain.offset), 0, 'no it_hist key names it');
  assert.equal(freed.values.size, 0, 'its it_freed entry is done with');
  assert.equal(reader.read().length, 0, 'nothing counted twice');
  // The address used again for a new domain: counted from zero.
  domains.serve(DOMAIN, 3);
  call('iommu.map', 3, 300);
  assert.equal(sumsOf(reader.read()).reduce((a, c) => a + c.calls, 0), 1);
});

/** A read's sums (records of calls). */
function sumsOf(r: Calls[]): Calls[] {
  return r.filter((c) => c.calls > 0);
}

/** A read's latency buckets (records of no calls): one entry per bucket. */
function bucketsOf(r: Calls[]): { domain: bigint; bucket: number; count: number }[] {
  return r.flatMap((c) => (c.calls === 0 ? (c.buckets ?? []).map(([bucket, count]) => ({ domain: c.domain, bucket, count })) : []));
}

/** The tgid of each it_agg entry. */
function readPids(agg: PerCpuHash): number[] {
  return agg.entries().map((e) => e.key.readUInt32LE(STRUCTS.it_agg_key.fields.tgid.offset));
}
