import { BpfMap } from '../loader';
import { AggKey, AggVal, COUNTERS, CounterName, HistKey, MapName, Requester, STRUCTS } from '../generated/bpf';

/*
 * Typed readers of the kernel-side maps, laid out by the generated layer
 * (src/generated/bpf.ts): counters by name, the latency histograms, the sums
 * of aggregated mode and the domains learned. Per-CPU values are summed over CPUs.
 */

/** What the readers need of a map (a BpfMap; a stand-in in tests). */
export type MapView = Pick<BpfMap, 'name' | 'maxEntries' | 'lookup' | 'entries' | 'perCpuValues' | 'perCpu' | 'delete' | 'take'>;

/** Where the readers find the object's maps (a BpfObject). */
export interface MapSource {
  map(name: MapName): MapView;
}

type Layout = { readonly offset: number; readonly size: number; readonly signed: boolean };

function read(b: Buffer, f: Layout): number {
  if (f.size === 8) return Number(f.signed ? b.readBigInt64LE(f.offset) : b.readBigUInt64LE(f.offset));
  return f.signed ? b.readIntLE(f.offset, f.size) : b.readUIntLE(f.offset, f.size);
}

/** Sum over CPUs of each field of a per-CPU value (the value itself when the map is not per-CPU). */
function summed<F extends string>(m: MapView, raw: Buffer, fields: Record<F, Layout>): Record<F, number> {
  const out = {} as Record<F, number>;
  const names = Object.keys(fields) as F[];
  for (const n of names) out[n] = 0;
  for (const v of m.perCpu ? m.perCpuValues(raw) : [raw]) for (const n of names) out[n] += read(v, fields[n]);
  return out;
}

/** A NUL-padded char array (a comm), as the kernel wrote it. */
function cString(b: Buffer, f: Layout): string {
  const s = b.subarray(f.offset, f.offset + f.size);
  const end = s.indexOf(0);
  return s.toString('latin1', 0, end < 0 ? s.length : end);
}

function u32(i: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(i);
  return key;
}

const U64: Record<'value', Layout> = { value: { offset: 0, size: 8, signed: false } };

/** it_counters: one counter, summed over CPUs. */
export function readCounter(src: MapSource, name: CounterName): number {
  const m = src.map('it_counters');
  const raw = m.lookup(u32(COUNTERS[name]));
  return raw ? summed(m, raw, U64).value : 0;
}

/** it_counters: every counter by name. */
export function readCounters(src: MapSource): Record<CounterName, number> {
  const out = {} as Record<CounterName, number>;
  for (const name of Object.keys(COUNTERS) as CounterName[]) out[name] = readCounter(src, name);
  return out;
}

/** A key as read: addresses (domain) stay exact 64-bit values; `key` is the kernel's (shared by its 8 buckets), to delete it. */
export type HistEntry = HistKey & { count: number; key: Buffer };

/** it_hist: every bucket that counted, summed over CPUs (a key holds 8 consecutive buckets). */
export function readHistograms(src: MapSource): HistEntry[] {
  const m = src.map('it_hist');
  return m.entries().flatMap(({ key, value }) => histBuckets(m, key, value));
}

/** it_hist: one key's final counts, the key deleted at once (its domain is done with); none when it was gone. */
export function takeHistogram(src: MapSource, key: Buffer): HistEntry[] {
  const m = src.map('it_hist');
  const value = m.take(key);
  return value ? histBuckets(m, key, value) : [];
}

function histBuckets(m: MapView, key: Buffer, value: Buffer): HistEntry[] {
  const k = STRUCTS.it_hist_key.fields;
  const c = STRUCTS.it_hist_val.fields.count;
  const counts = new Array<number>(c.count).fill(0);
  for (const cpu of m.perCpu ? m.perCpuValues(value) : [value]) {
    for (let i = 0; i < c.count; i++) counts[i] += Number(cpu.readBigUInt64LE(c.offset + i * c.size));
  }
  const first = read(key, k.bucket);
  const head = { probe: read(key, k.probe), group_id: read(key, k.group_id), domain: key.readBigUInt64LE(k.domain.offset), key };
  const out: HistEntry[] = [];
  counts.forEach((count, i) => count && out.push({ ...head, bucket: first + i, count }));
  return out;
}

/** One it_agg entry, its CPUs folded: sums summed, first_ns the smallest, last_ns and lat_max the largest. */
export type AggEntry = Omit<AggKey, 'pad' | 'pad2'> & Omit<AggVal, 'pad'> & {
  /** The entry's key as the kernel holds it (to delete it). */
  key: Buffer;
};

const SUMMED = ['calls', 'amount', 'asked', 'fast', 'partial', 'lat_sum'] as const;

/** it_agg: every entry, folded over CPUs (CPUs that never counted the key are left out). */
export function readAggregates(src: MapSource): AggEntry[] {
  const m = src.map('it_agg');
  return m.entries().map(({ key, value }) => aggEntry(m, key, value));
}

/** it_agg: one key's final sums, the key deleted at once (its process or domain is done with); undefined when it was gone. */
export function takeAggregate(src: MapSource, key: Buffer): AggEntry | undefined {
  const m = src.map('it_agg');
  const value = m.take(key);
  return value && aggEntry(m, key, value);
}

function aggEntry(m: MapView, key: Buffer, value: Buffer): AggEntry {
  const k = STRUCTS.it_agg_key.fields;
  const v = STRUCTS.it_agg_val.fields;
  {
    const e: AggEntry = {
      probe: read(key, k.probe),
      size_class: read(key, k.size_class),
      group_id: read(key, k.group_id),
      tgid: read(key, k.tgid),
      domain: key.readBigUInt64LE(k.domain.offset),
      calls: 0, amount: 0, asked: 0, fast: 0, partial: 0, lat_sum: 0, lat_max: 0,
      first_ns: 0n, last_ns: 0n, tid: 0, comm: '', key,
    };
    for (const cpu of m.perCpu ? m.perCpuValues(value) : [value]) {
      for (const f of SUMMED) e[f] += read(cpu, v[f]);
      const first = cpu.readBigUInt64LE(v.first_ns.offset);
      if (first === 0n) continue; // this CPU never counted the key
      e.lat_max = Math.max(e.lat_max, read(cpu, v.lat_max));
      if (e.first_ns === 0n || first < e.first_ns) {
        e.first_ns = first;
        e.tid = read(cpu, v.tid);
        e.comm = cString(cpu, v.comm);
      }
      const last = cpu.readBigUInt64LE(v.last_ns.offset);
      if (last > e.last_ns) e.last_ns = last;
    }
    return e;
  }
}

/** it_domain_group: the group each learned domain serves now (attach and snapshot learn, detach forgets). */
export function readServedDomains(src: MapSource): Map<bigint, number> {
  const m = src.map('it_domain_group');
  const g = STRUCTS.it_domain_info.fields.group_id;
  return new Map(m.entries().map(({ key, value }) => [key.readBigUInt64LE(0), read(value, g)]));
}

/** it_freed: the domains freed since their keys were last retired, with the key to delete each entry by. */
export function readFreedDomains(src: MapSource): Map<bigint, Buffer> {
  return new Map(src.map('it_freed').entries().map(({ key }) => [key.readBigUInt64LE(0), key]));
}

/** it_requesters: the processes (tgid) noted since the last read, with the asking thread; each entry read is deleted. */
export function takeRequesters(src: MapSource): (Requester & { tgid: number })[] {
  const m = src.map('it_requesters');
  const f = STRUCTS.it_requester.fields;
  return m.entries().map(({ key, value }) => {
    m.delete(key);
    return { tgid: key.readUInt32LE(0), tid: read(value, f.tid), comm: cString(value, f.comm) };
  });
}
