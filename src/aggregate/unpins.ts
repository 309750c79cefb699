/** Threads and GUP unpins per thread kept for matching; beyond them the oldest are forgotten. */
const MAX_THREADS = 4096;
const MAX_PER_THREAD = 1024;

/**
 * VFIO and iommufd release pages through the GUP unpin functions on some paths
 * (a read-only VFIO mapping: unpin_user_pages_dirty_lock without dirtying calls
 * unpin_user_pages). Such a GUP unpin is part of the VFIO or iommufd unpin around
 * it, and must not be counted twice. The GUP event comes first (at its entry),
 * the path's event at its exit with its latency: a GUP unpin of the same thread
 * inside [exit - latency, exit] is nested. Calls on a thread are sequential, so
 * what came before a path unpin's start can never be nested in a later one.
 */
export class UnpinNesting {
  private readonly byTid = new Map<number, { ts: number; pages: number }[]>();

  /** A GUP unpin of `pages` by thread `tid` at `ts`. */
  gup(tid: number, ts: number, pages: number): void {
    let list = this.byTid.get(tid);
    if (!list) {
      if (this.byTid.size >= MAX_THREADS) this.byTid.delete(this.byTid.keys().next().value!);
      this.byTid.set(tid, (list = []));
    }
    if (list.length >= MAX_PER_THREAD) list.shift();
    list.push({ ts, pages });
  }

  /** A VFIO or iommufd unpin by `tid` ending at `ts` after `latNs`: the GUP pages unpinned inside it. */
  path(tid: number, ts: number, latNs: number): number {
    const list = this.byTid.get(tid);
    if (!list) return 0;
    this.byTid.delete(tid);
    if (!(latNs > 0)) return 0; // no latency (no entry seen): nothing can be placed inside
    let nested = 0;
    for (const u of list) if (u.ts >= ts - latNs && u.ts <= ts) nested += u.pages;
    return nested;
  }
}
