import { DeviceRow } from './devices';
import { FaultRow } from './faults';
import { ListedRef } from './groups';
import { Percentiles } from './loglinear';
import { MapFailureRow } from './map-failures';
import { IotlbRow } from './iotlb';
import { SizeClasses } from './map-sizes';
import { ProcessRow } from './processes';

export interface GupCounts {
  calls: number;
  pages_requested: number;
  pages_pinned: number;
  fast_pages: number;
  slow_pages: number;
  partial: number;
  errors: number;
}

/** `iommutrace report --json`, format iommutrace-report/1 (see CLI.md). */
export interface Report {
  format: 'iommutrace-report/1';
  capture: {
    started_at: string;
    duration_ns: number;
    host: string;
    kernel: { release: string; btf: boolean };
    /** The file ended early (killed, disk full) or is damaged; counts cover what was read. */
    cut: boolean;
    damage: string | null;
    stop_reason: string | null;
  };
  /** `reason_code`: the cause of `reason` as a code (src/probes/reasons.ts), null when attached or recorded before 0.3.0. */
  /** `events`: what the probe delivered in the window (0: attached but never fired). */
  probes: { name: string; target: string | null; mode: string | null; status: string; reason: string | null; reason_code: string | null; events: number }[];
  /** Sections no attached probe fed: their zeros mean "not watched", not "nothing happened" (src/report/watched.ts). */
  not_watched: string[];
  /** `fault_reports_dropped`: fault lines the IOMMU drivers' rate limiters kept out of the kernel log (VT-d says how many). */
  events: { total: number; lost: number; fault_reports_dropped: number };
  latency: Record<string, Percentiles>;
  /** The same latencies as power-of-two ranges [low_ns, high_ns), as funclatency prints them. */
  latency_histograms: Record<string, { low_ns: number; high_ns: number; count: number }[]>;
  dma: { map_calls: number; map_bytes: number; unmap_calls: number; unmap_bytes: number };
  devices: DeviceRow[];
  /** Per device, its successful map calls by size class (powers of two from 4 KiB, src/aggregate/map-sizes.ts). */
  map_sizes: Record<string, SizeClasses>;
  /** Per device, IOTLB invalidations: range syncs (with the bytes covered) and whole-domain flushes, with latency. */
  iotlb: Record<string, IotlbRow>;
  /**
   * Pages pinned by VFIO type1 and iommufd; unpinned_pages is every unpin path's
   * (VFIO, iommufd, and the GUP unpins of io_uring, O_DIRECT and others), each
   * page once, and the three parts follow it (see aggregate/truth.ts).
   */
  pins: {
    vfio_pages: number;
    iommufd_pages: number;
    unpinned_pages: number;
    vfio_unpinned_pages: number;
    iommufd_unpinned_pages: number;
    gup_unpinned_pages: number;
  };
  pin_ledger: { pid: number; comm: string; path: string; pinned: number; unpinned: number; outstanding: number }[];
  gup: GupCounts & { errors_by_errno: Record<string, number> };
  /** GUP per process (pid -1 sums the processes past the table's bound). */
  gup_by_process: (GupCounts & { pid: number; comm: string })[];
  /**
   * Per process that mapped, unmapped, pinned or unpinned (VFIO/iommufd pins, as
   * `pins`), most bytes first; pid -1 sums the processes past the table's bound.
   * `vm` and `cgroup` as the recording host read them (null in captures recorded before process frames).
   */
  processes: ProcessRow[];
  /**
   * Every failed user-space map (VFIO MAP_DMA, iommufd IOAS_MAP), grouped by process,
   * call, errno and cause, with the figures the kernel held (CLI.md); most failures first.
   */
  map_failures: MapFailureRow[];
  dirty: { walks: number; errors: number; bytes_walked: number; by_callback: Record<string, number> };
  groups: {
    group: number;
    devices: string[];
    gets: number;
    puts: number;
    outstanding: number;
    held: ListedRef[];
    leaked: ListedRef[];
  }[];
  /** Bounded tables that overflowed: what they had to forget. */
  /**
   * `processes`: events summed into the "(others)" row of processes[] (pid -1);
   * `process_facts`: events whose process the recording host did not look up (no vm, cgroup);
   * `map_failures`: failures summed under pid -1 of map_failures[] (the table keeps as many processes as processes[]).
   */
  overflow: { group_refs: number; stacks: number; groups: number; processes: number; map_failures: number; process_facts: number };
  page_faults: { device: string; iova: string; flags: number; ts_ns: number }[];
  /** IO page faults per device, from every IOMMU driver's source (CLI.md `faults[]`). */
  faults: FaultRow[];
}
