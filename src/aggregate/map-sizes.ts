/**
 * The shape of DMA mappings: each successful map call by its size class, the
 * largest power of two not above its bytes (4 KiB at least). A guest backed by
 * 4 KiB pages maps page runs as long as its physical memory happens to be
 * contiguous; one backed by 2 MiB or 1 GiB huge pages maps whole huge pages, so
 * the share of bytes in the 2 MiB-or-larger classes answers "is it using huge
 * pages?" for a device or a process.
 */

export const SMALLEST_CLASS = 4096;
/** Calls of at least this many bytes count as huge (x86's 2 MiB page). */
export const HUGE_CLASS = 2 * 1024 * 1024;

/** A class's calls and bytes (report `map_sizes`, CLI.md). */
export interface SizeClassCounts {
  calls: number;
  bytes: number;
}

/** Size class (bytes, as a string key) -> its calls and bytes. */
export type SizeClasses = Record<string, SizeClassCounts>;

/** Each it_agg size key's class: a table, since `2 ** n` costs a call per map on the hot path. */
const CLASS_OF_KEY = Array.from({ length: 66 }, (_, key) => (key ? Math.max(SMALLEST_CLASS, 2 ** (key - 1)) : 0));

/** The size class of the kernel's it_agg key (0: nothing moved, else 1 + log2 of one call's amount). */
export function kernelSizeClass(key: number): number {
  return CLASS_OF_KEY[key] ?? 0;
}

/** The it_agg size key of a call that moved `bytes` (bpf/include/common.h), so kernelSizeClass(sizeKey(b)) is sizeClass(b) for b > 0. */
export function sizeKey(bytes: number): number {
  if (bytes <= 0) return 0;
  // Integer shifts for what fits 32 bits (every map below 4 GiB), as the kernel's log2.
  return bytes < 4294967296 ? 32 - Math.clz32(bytes) : 1 + Math.floor(Math.log2(bytes));
}

export function sizeClass(bytes: number): number {
  if (bytes <= SMALLEST_CLASS) return SMALLEST_CLASS;
  return 2 ** Math.floor(Math.log2(bytes));
}

/** Per size class of one device or process; classes are few (log2 of the largest map). */
export class SizeHistogram {
  private readonly classes = new Map<number, SizeClassCounts>();
  bytes = 0;
  hugeBytes = 0;

  add(bytes: number): void {
    this.addCalls(sizeClass(bytes), 1, bytes);
  }

  /** `calls` calls of size class `c` that moved `bytes` in all (the kernel sums them in aggregated mode). */
  addCalls(c: number, calls: number, bytes: number): void {
    if (bytes <= 0) return;
    let n = this.classes.get(c);
    if (!n) this.classes.set(c, (n = { calls: 0, bytes: 0 }));
    n.calls += calls;
    n.bytes += bytes;
    this.bytes += bytes;
    if (c >= HUGE_CLASS) this.hugeBytes += bytes;
  }

  /** A new histogram of both (unknown domains' rows are reported as one). */
  merge(other: SizeHistogram): SizeHistogram {
    const out = new SizeHistogram();
    for (const h of [this, other]) {
      for (const [c, n] of h.classes) {
        const m = out.classes.get(c) ?? { calls: 0, bytes: 0 };
        out.classes.set(c, { calls: m.calls + n.calls, bytes: m.bytes + n.bytes });
      }
      out.bytes += h.bytes;
      out.hugeBytes += h.hugeBytes;
    }
    return out;
  }

  /** Share of the bytes mapped in calls of 2 MiB or more; null when nothing was mapped. */
  get hugeShare(): number | null {
    return this.bytes ? this.hugeBytes / this.bytes : null;
  }

  toJSON(): SizeClasses {
    return Object.fromEntries([...this.classes].sort((a, b) => a[0] - b[0]).map(([c, n]) => [String(c), { ...n }]));
  }
}
