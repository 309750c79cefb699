import { BpfMap } from '../loader';
import { COUNTERS, CounterName, HistKey, MapName, PROBES, ProbeName, ProbeStats, STRUCTS } from '../generated/bpf';

/*
 * Typed readers of the kernel-side maps, laid out by the generated layer
 * (src/generated/bpf.ts): counters by name, per-probe call counts, the latency
 * histograms. Per-CPU values are summed over CPUs.
 */

/** What the readers need of a map (a BpfMap; a stand-in in tests). */
export type MapView = Pick<BpfMap, 'name' | 'lookup' | 'entries' | 'perCpuValues' | 'perCpu'>;

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

/** it_probe_stats: calls, errors and amount per probe (probes that never ran are left out). */
export function readProbeStats(src: MapSource): Map<ProbeName, ProbeStats> {
  const m = src.map('it_probe_stats');
  const out = new Map<ProbeName, ProbeStats>();
  for (const name of Object.keys(PROBES) as ProbeName[]) {
    const raw = m.lookup(u32(PROBES[name]));
    if (!raw) continue;
    const s = summed(m, raw, STRUCTS.it_probe_stats.fields);
    if (s.calls || s.errors || s.amount) out.set(name, s);
  }
  return out;
}

/** it_hist: every bucket with its count, summed over CPUs. */
export function readHistograms(src: MapSource): (HistKey & { count: number })[] {
  const m = src.map('it_hist');
  return m.entries().map(({ key, value }) => {
    const k = STRUCTS.it_hist_key.fields;
    return { probe: read(key, k.probe), bucket: read(key, k.bucket), group_id: read(key, k.group_id), count: summed(m, value, U64).value };
  });
}
