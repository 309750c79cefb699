import type { ProcessFacts } from '../process/facts';
import { HUGE_CLASS, sizeClass } from './map-sizes';

/** One process's DMA and pins (report --json `processes[]`, CLI.md). */
export interface ProcessRow {
  pid: number;
  comm: string;
  vm: string | null;
  cgroup: string | null;
  map_bytes: number;
  unmap_bytes: number;
  pinned_pages: number;
  unpinned_pages: number;
  /** Event time (ns from the capture's start) of its first and last map; null when it only unmapped or pinned. */
  first_map_ns: number | null;
  last_map_ns: number | null;
  /** map_bytes over first..last map, per second: the rate while it mapped (null with fewer than two map times). */
  map_bytes_per_s: number | null;
  /** Share of map_bytes mapped in calls of 2 MiB or more (a guest on huge pages); null when it mapped nothing. */
  huge_map_share: number | null;
}

type Counts = Omit<ProcessRow, 'vm' | 'cgroup' | 'map_bytes_per_s' | 'huge_map_share'> & { huge_map_bytes: number };

/** Processes kept apart; the rest are summed in one row (pid -1, "(others)"). */
export const MAX_PROCESS_ROWS = 4096;

/**
 * DMA maps and VFIO/iommufd pins per process. They run in the VMM's own context
 * (its VFIO or iommufd ioctl), so the event's pid (the tgid) is the process.
 */
export class ProcessTable {
  private readonly rows = new Map<number, Counts>();
  /** Events summed into the "(others)" row because the table was full. */
  overflow = 0;

  constructor(private readonly limit = MAX_PROCESS_ROWS) {}

  /** `events`: how many events the call stands for (the kernel sums calls in aggregated mode). */
  private row(pid: number, comm: string, events = 1): Counts {
    let r = this.rows.get(pid);
    if (r) return r;
    if (this.rows.size >= this.limit) {
      this.overflow += events;
      pid = -1;
      comm = '(others)';
      r = this.rows.get(-1);
      if (r) return r;
    }
    r = { pid, comm, map_bytes: 0, huge_map_bytes: 0, unmap_bytes: 0, pinned_pages: 0, unpinned_pages: 0, first_map_ns: null, last_map_ns: null };
    this.rows.set(pid, r);
    return r;
  }

  /** Maps at tsNs (or `events` of them between tsNs and lastNs). */
  /** `klass`: the calls' size class (the kernel sums calls of one class). */
  map(pid: number, comm: string, bytes: number, tsNs: number, lastNs = tsNs, events = 1, klass = sizeClass(bytes)): void {
    const r = this.row(pid, comm, events);
    r.map_bytes += bytes;
    if (klass >= HUGE_CLASS) r.huge_map_bytes += bytes;
    if (r.first_map_ns === null || tsNs < r.first_map_ns) r.first_map_ns = tsNs;
    if (r.last_map_ns === null || lastNs > r.last_map_ns) r.last_map_ns = lastNs;
  }

  unmap(pid: number, comm: string, bytes: number, events = 1): void {
    this.row(pid, comm, events).unmap_bytes += bytes;
  }

  pin(pid: number, comm: string, pages: number, pinned: boolean, events = 1): void {
    const r = this.row(pid, comm, events);
    if (pinned) r.pinned_pages += pages;
    else r.unpinned_pages += pages;
  }

  get size(): number {
    return this.rows.size;
  }

  /** The rows, most bytes mapped first, with the facts the recording host read (null where it read none). */
  list(facts: (pid: number) => ProcessFacts | undefined = () => undefined): ProcessRow[] {
    return [...this.rows.values()]
      .map((r) => {
        const f = r.pid > 0 ? facts(r.pid) : undefined;
        const span = r.first_map_ns !== null && r.last_map_ns !== null ? r.last_map_ns - r.first_map_ns : 0;
        const row: ProcessRow = {
          pid: r.pid,
          comm: r.comm,
          vm: f?.vm ?? null,
          cgroup: f?.cgroup ?? null,
          map_bytes: r.map_bytes,
          unmap_bytes: r.unmap_bytes,
          pinned_pages: r.pinned_pages,
          unpinned_pages: r.unpinned_pages,
          first_map_ns: r.first_map_ns,
          last_map_ns: r.last_map_ns,
          map_bytes_per_s: span > 0 ? Math.round(r.map_bytes / (span / 1e9)) : null,
          huge_map_share: r.map_bytes ? r.huge_map_bytes / r.map_bytes : null,
        };
        return row;
      })
      .sort((a, b) => b.map_bytes - a.map_bytes || b.pinned_pages - a.pinned_pages || a.pid - b.pid);
  }
}
