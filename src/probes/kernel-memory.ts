/**
 * What the object's maps cost the kernel, and how big the per-CPU tables may grow on
 * this host. it_agg and it_hist keep a value per possible CPU for every key: at the
 * sizes built into the object, full, that is 512 KiB a CPU (134 MB on a 256-CPU host).
 * They allocate keys as they come (BPF_F_NO_PREALLOC, bpf/include/maps.h), and here
 * their capacity shrinks as CPUs grow, so that even full they stay within
 * PER_CPU_BUDGET; a call whose key finds it_agg full goes through the ring (counted,
 * not lost).
 */
import { native, type BpfObject, type NativeMapInfo } from '../loader';
import { MAPS, type MapName } from '../generated/bpf';

/** Bytes it_agg and it_hist may hold together when full, whatever the CPU count. */
export const PER_CPU_BUDGET = 9 * 2 ** 20;

/** The tables whose capacity follows the CPU count, with their share of the budget. */
const SCALED: Partial<Record<MapName, number>> = { it_agg: 0.6, it_hist: 0.4 };

/** Never fewer keys than this, even past a thousand CPUs (the budget then gives way). */
const MIN_ENTRIES = 128;

/** BPF_MAP_TYPE_* of the kinds sized here. */
const HASH = new Set([1, 5, 9, 10]);
const PER_CPU = new Set([5, 6, 10]);
const ARRAY = new Set([2, 6]);
const RINGBUF = 27;
const TASK_STORAGE = 29;
const BPF_F_NO_PREALLOC = 1;

const r8 = (n: number) => (n + 7) & ~7;
const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

export type MapShape = Pick<NativeMapInfo, 'name' | 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags'>;

/**
 * A map's bytes when every key is in use, as the kernel counts them (kernel/bpf's
 * map_mem_usage, 6.4+): for a hash, a bucket head per slot and per key a 48-byte
 * element header, the key, and the value (per-CPU: a pointer, and a value per CPU).
 */
export function fullBytes(m: MapShape, cpus: number): number {
  const perCpu = PER_CPU.has(m.type);
  // The data pages, two position pages, and a page pointer for each, the data mapped twice.
  if (m.type === RINGBUF) return m.maxEntries + 2 * 4096 + (2 + (2 * m.maxEntries) / 4096) * 8;
  // Held by the threads, not the map: see MapMemory.perThreadBytes.
  if (m.type === TASK_STORAGE) return 0;
  if (HASH.has(m.type)) {
    const value = perCpu ? 8 + r8(m.valueSize) * cpus : r8(m.valueSize);
    return pow2(m.maxEntries) * 16 + m.maxEntries * (48 + r8(m.keySize) + value);
  }
  if (ARRAY.has(m.type)) return m.maxEntries * (perCpu ? 8 + r8(m.valueSize) * cpus : r8(m.valueSize));
  return r8(m.keySize + m.valueSize) * m.maxEntries;
}

/** The capacity of each CPU-scaled table on a host with `cpus` possible CPUs (the object's own where smaller). */
export function scaledEntries(maps: readonly MapShape[], cpus: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of maps) {
    const share = SCALED[m.name as MapName];
    if (!share) continue;
    // One key's bytes: a one-key table's, less its one bucket head.
    const perKey = fullBytes({ ...m, maxEntries: 1 }, cpus) - 16;
    out.set(m.name, Math.max(MIN_ENTRIES, Math.min(m.maxEntries, Math.floor((PER_CPU_BUDGET * share) / perKey))));
  }
  return out;
}

/** Sizes an opened (not yet loaded) object's CPU-scaled tables for this host. */
export function sizeForHost(obj: BpfObject): void {
  for (const [map, entries] of scaledEntries(obj.mapInfo(), native().numPossibleCpus)) obj.setMaxEntries(map, entries);
}

export interface MapMemory {
  map: string;
  /** Keys the table may hold (after scaling). */
  maxEntries: number;
  /** Bytes when full. */
  fullBytes: number;
  /** Allocated as keys come (BPF_F_NO_PREALLOC) rather than at load. */
  onDemand: boolean;
  /**
   * Task-local storage: the value a thread holds from its first traced call until it
   * exits (the kernel adds its element header), counted with neither the map nor fullBytes.
   */
  perThreadBytes?: number;
}

/** Every map's capacity and full size on a host with `cpus` possible CPUs, its CPU-scaled tables scaled. */
export function mapMemory(maps: readonly MapShape[], cpus: number): MapMemory[] {
  const scaled = scaledEntries(maps, cpus);
  return maps
    .filter((m) => m.name in MAPS)
    .map((m) => {
      const maxEntries = scaled.get(m.name) ?? m.maxEntries;
      const perThread = m.type === TASK_STORAGE ? { perThreadBytes: r8(m.valueSize) } : {};
      return { map: m.name, maxEntries, fullBytes: fullBytes({ ...m, maxEntries }, cpus), onDemand: (m.flags & BPF_F_NO_PREALLOC) !== 0, ...perThread };
    });
}

export interface MapMemoryUse extends MapMemory {
  /** The kernel's own count (fdinfo's memlock): allocated bytes on 6.4 and later, the full size before. */
  kernelBytes: number | undefined;
}

/** A loaded object's maps: their full size here and the kernel's count of them now. */
export function loadedMapMemory(obj: BpfObject): MapMemoryUse[] {
  return mapMemory(obj.mapInfo(), native().numPossibleCpus).map((m) => ({ ...m, kernelBytes: obj.map(m.map).memlock() }));
}
