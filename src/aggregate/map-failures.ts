import type { MapRequestEvent } from '../events/types';
import type { ProcessFacts } from '../process/facts';
import { formatBytes } from '../util/duration';
import { errnoName } from './errno';
import { MAX_PROCESS_ROWS } from './processes';

/** Which user-space map call failed (CLI.md `map_failures[].api`), by the probe that saw it. */
export const MAP_APIS = { 'vfio.map_dma': 'vfio_map_dma', 'iommufd.ioas_map': 'iommufd_ioas_map' } as const;
export type MapApi = (typeof MAP_APIS)[keyof typeof MAP_APIS] | 'iommu_map';

export type MapFailureCause = 'locked_memory_limit' | 'dma_entry_limit' | 'overlap' | 'other';

/** The figures the kernel decided by, where the cause has them (values of the group's last failure). */
export interface MapFailureDetail {
  locked_bytes?: number;
  /** null: RLIMIT_MEMLOCK is unlimited. */
  limit_bytes?: number | null;
  dma_entries?: number;
  dma_entry_limit?: number;
}

/** One group of failed maps (report --json `map_failures[]`). */
export interface MapFailureRow {
  pid: number;
  comm: string;
  vm: string | null;
  api: MapApi;
  errno: string;
  cause: MapFailureCause;
  count: number;
  /** Bytes the refused calls asked for. */
  bytes: number;
  /** Whether the process had CAP_IPC_LOCK at its last failure (with it, the locked-memory limit does not apply). */
  cap_ipc_lock: boolean;
  detail: MapFailureDetail;
  /** Event time (ns from the capture's start) of the group's first and last failure. */
  first_ns: number;
  last_ns: number;
}

const PAGE = 4096;
/** RLIM_INFINITY >> PAGE_SHIFT: the kernel's "unlimited", as the event carries it. */
const UNLIMITED_PAGES = 2 ** 52 - 1;
const ENOSPC = -28;
const EEXIST = -17;
const ENOMEM = -12;

/**
 * Why the kernel refused, from its return and the figures it held. VFIO type1
 * returns ENOSPC only when the container has no entry left; EEXIST for a range
 * that overlaps a mapping; ENOMEM from the locked-memory check when the caller
 * lacks CAP_IPC_LOCK and its locked pages plus the request pass the limit (other
 * ENOMEMs, an allocation failing, are "other").
 */
export function mapFailureCause(e: MapRequestEvent): { cause: MapFailureCause; detail: MapFailureDetail } {
  if (e.ret === ENOSPC && e.probe === 'vfio.map_dma') {
    const known = e.dma_entry_limit > 0;
    return {
      cause: 'dma_entry_limit',
      // Entries and free slots add up to the limit the container was opened with.
      detail: known ? { dma_entries: e.dma_entry_limit - e.dma_avail, dma_entry_limit: e.dma_entry_limit } : {},
    };
  }
  if (e.ret === EEXIST) return { cause: 'overlap', detail: {} };
  const unlimited = e.limit_pages >= UNLIMITED_PAGES;
  if (e.ret === ENOMEM && !e.cap_ipc_lock && !unlimited && e.locked_pages + Math.ceil(e.size / PAGE) > e.limit_pages) {
    return { cause: 'locked_memory_limit', detail: { locked_bytes: e.locked_pages * PAGE, limit_bytes: e.limit_pages * PAGE } };
  }
  return { cause: 'other', detail: {} };
}

type Group = Omit<MapFailureRow, 'vm'>;

/** Failed user-space maps grouped by process, call, errno and cause; bounded like the process table. */
export class MapFailureTable {
  private readonly groups = new Map<string, Group>();
  private readonly pids = new Set<number>();
  /** Failures summed under pid -1 because the table was full. */
  overflow = 0;

  constructor(private readonly limit = MAX_PROCESS_ROWS) {}

  add(e: MapRequestEvent): void {
    if (e.ret >= 0) return;
    const api = MAP_APIS[e.probe as keyof typeof MAP_APIS];
    if (!api) return;
    const { cause, detail } = mapFailureCause(e);
    let pid = e.pid;
    let comm = e.comm;
    if (!this.pids.has(pid) && this.pids.size >= this.limit) {
      this.overflow++;
      pid = -1;
      comm = '(others)';
    }
    this.pids.add(pid);
    const errno = errnoName(e.ret);
    const key = `${pid}\0${api}\0${errno}\0${cause}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { pid, comm, api, errno, cause, count: 0, bytes: 0, cap_ipc_lock: false, detail, first_ns: e.ts_ns, last_ns: e.ts_ns };
      this.groups.set(key, g);
    }
    g.count++;
    g.bytes += e.size;
    g.cap_ipc_lock = e.cap_ipc_lock !== 0;
    g.detail = detail;
    if (e.ts_ns < g.first_ns) g.first_ns = e.ts_ns;
    if (e.ts_ns >= g.last_ns) g.last_ns = e.ts_ns;
  }

  /** Failures in all (for the metric and the header). */
  get total(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.count;
    return n;
  }

  /** The groups, most failures first, named as the recording host read their processes. */
  list(facts: (pid: number) => ProcessFacts | undefined = () => undefined): MapFailureRow[] {
    return [...this.groups.values()]
      .map(({ pid, comm, ...rest }) => ({ pid, comm, vm: (pid > 0 ? facts(pid)?.vm : null) ?? null, ...rest, detail: { ...rest.detail } }))
      .sort((a, b) => b.count - a.count || a.pid - b.pid || a.api.localeCompare(b.api) || a.cause.localeCompare(b.cause));
  }
}

/** The call as operators know it (the ioctl's name). */
const CALL_NAMES: Record<MapApi, string> = { vfio_map_dma: 'MAP_DMA', iommufd_ioas_map: 'IOAS_MAP', iommu_map: 'iommu_map' };

/** Why, in words: "locked memory 3.0 MiB of 4.0 MiB limit". */
export function failureReason(f: Pick<MapFailureRow, 'cause' | 'detail' | 'errno'>): string {
  const d = f.detail;
  switch (f.cause) {
    case 'locked_memory_limit':
      return `locked memory ${formatBytes(d.locked_bytes ?? 0)} of ${d.limit_bytes == null ? 'an unlimited' : formatBytes(d.limit_bytes)} limit`;
    case 'dma_entry_limit':
      return d.dma_entry_limit === undefined
        ? 'no DMA entry left (dma_entry_limit)'
        : `${(d.dma_entries ?? 0).toLocaleString('en-US')} of ${d.dma_entry_limit.toLocaleString('en-US')} DMA entries in use (dma_entry_limit)`;
    case 'overlap':
      return `overlaps a mapping (${f.errno})`;
    default:
      return f.errno;
  }
}

/** One refusal as the event log says it: "vm-alpha: MAP_DMA 3.0 MiB refused: locked memory 3.0 MiB of 4.0 MiB limit". */
export function failureLine(who: string, api: MapApi, bytes: number, f: Pick<MapFailureRow, 'cause' | 'detail' | 'errno'>): string {
  return `${who}: ${CALL_NAMES[api]} ${formatBytes(bytes)} refused: ${failureReason(f)}`;
}

/** The event log's line for a map request, when it failed. */
export function describeMapRequest(e: MapRequestEvent, who: string): string | undefined {
  const api = MAP_APIS[e.probe as keyof typeof MAP_APIS];
  if (e.ret >= 0 || !api) return undefined;
  return failureLine(who, api, e.size, { ...mapFailureCause(e), errno: errnoName(e.ret) });
}
