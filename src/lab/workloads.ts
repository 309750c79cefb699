import type { LabArch } from './arch';
import type { KernelName } from './kernels';

export const WORKLOAD_NAMES = ['vfio', 'gup', 'dirty', 'leak', 'premap', 'netdev', 'cdev', 'qemu', 'entrylimit', 'memlock', 'memlock-iommufd', 'hugetlb', 'fault'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];
/** What `--workload` accepts: one workload, `all` that apply to the kernel, or `none`. */
export type WorkloadSelection = WorkloadName | 'all' | 'none';

export function isWorkloadSelection(s: string): s is WorkloadSelection {
  return s === 'all' || s === 'none' || (WORKLOAD_NAMES as readonly string[]).includes(s);
}

/** The PCI device the lab gives to VFIO: QEMU's e1000e at slot 3. */
export const LAB_DEVICE = '0000:00:03.0';

interface WorkloadSpec {
  /** Needs the emulated Intel IOMMU (true), needs it absent (false: iommufd's mock domain), or either. */
  iommu: boolean | 'any';
  /** LAB_DEVICE bound to vfio-pci (`vfio`), left on its own driver (`driver`), or either. */
  device: 'vfio' | 'driver' | 'any';
  kernels: readonly KernelName[];
  /**
   * Starts before the command and sets up what a host had before the tool started;
   * the command starts once it has said so (HELD) and it goes on when told (GO).
   */
  early?: boolean;
  /** Runs a program of the host root the arm64 guest's own root lacks (Debian's qemu-system-x86_64). */
  hostRootOnly?: boolean;
}

const EVERY_KERNEL: readonly KernelName[] = ['debian-6.1', 'debian-6.12', 'iommufd-6.12'];

const SPECS: Record<WorkloadName, WorkloadSpec> = {
  vfio: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL },
  gup: { iommu: 'any', device: 'any', kernels: EVERY_KERNEL },
  dirty: { iommu: false, device: 'any', kernels: ['iommufd-6.12'] },
  leak: { iommu: true, device: 'any', kernels: EVERY_KERNEL },
  // A VFIO user whose container was mapped before the tool started.
  premap: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL, early: true },
  // A kernel driver's DMA into the default domain the kernel attached at boot.
  netdev: { iommu: true, device: 'driver', kernels: ['debian-6.1', 'debian-6.12'] },
  // The VFIO device cdev bound to iommufd (Debian's kernels have no iommufd).
  cdev: { iommu: true, device: 'vfio', kernels: ['iommufd-6.12'] },
  // The vfio workload on 2 MiB huge pages: every map call a run of whole huge pages.
  hugetlb: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL },
  // A real VMM: Debian's QEMU passing the device through to a guest held at -S.
  qemu: { iommu: true, device: 'vfio', kernels: ['debian-6.1', 'debian-6.12'], hostRootOnly: true },
  // MAP_DMA refused: the container's dma_entry_limit reached; RLIMIT_MEMLOCK without CAP_IPC_LOCK.
  entrylimit: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL },
  memlock: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL },
  // The same limit through iommufd's IOAS_MAP (the device cdev bound to iommufd).
  'memlock-iommufd': { iommu: true, device: 'vfio', kernels: ['iommufd-6.12'] },
  // A user-space e1000e driver whose transmit descriptors point at IOVAs never mapped: IO page faults.
  fault: { iommu: true, device: 'vfio', kernels: EVERY_KERNEL },
};

export function isEarly(w: WorkloadName): boolean {
  return SPECS[w].early === true;
}

/** `all` per kernel: what one boot can run together (the mock domain rules out intel-iommu). */
const ALL: Record<KernelName, WorkloadName[]> = {
  'debian-6.1': ['vfio', 'gup', 'leak'],
  'debian-6.12': ['vfio', 'gup', 'leak'],
  'iommufd-6.12': ['dirty', 'gup'],
};

export interface WorkloadPlan {
  workloads: WorkloadName[];
  /** Boot with an emulated IOMMU (intel-iommu or amd-iommu). */
  iommu: boolean;
  /** Bind LAB_DEVICE to vfio-pci before running anything. */
  bindVfio: boolean;
  /** Load LAB_DEVICE's own driver (e1000e) and leave the device on it. */
  bindDriver: boolean;
}

/** Resolves a selection for a kernel and checks that its workloads can share one boot. */
export function planWorkloads(kernel: KernelName, selection: WorkloadSelection | WorkloadName[], iommu?: boolean, arch: LabArch = 'x86_64'): WorkloadPlan {
  const workloads =
    selection === 'all' ? ALL[kernel] : selection === 'none' ? [] : Array.isArray(selection) ? [...selection] : [selection];
  for (const w of workloads) {
    if (!SPECS[w].kernels.includes(kernel)) throw new Error(`workload ${w} needs kernel ${SPECS[w].kernels.join(' or ')}, not ${kernel}`);
    if (arch !== 'x86_64' && SPECS[w].hostRootOnly) throw new Error(`workload ${w} needs the x86_64 guest (it runs the host's programs), not ${arch}`);
  }
  const wantIommu = workloads.filter((w) => SPECS[w].iommu === true);
  const wantNone = workloads.filter((w) => SPECS[w].iommu === false);
  if (wantIommu.length && wantNone.length) {
    throw new Error(`workloads ${wantIommu.join(', ')} need the emulated Intel IOMMU and ${wantNone.join(', ')} must boot without it: run them separately`);
  }
  const chosen = iommu ?? (wantNone.length ? false : true);
  if (chosen && wantNone.length) throw new Error(`workload ${wantNone.join(', ')} must boot without the emulated Intel IOMMU`);
  if (!chosen && wantIommu.length) throw new Error(`workload ${wantIommu.join(', ')} needs the emulated Intel IOMMU`);
  const onVfio = workloads.filter((w) => SPECS[w].device === 'vfio');
  const onDriver = workloads.filter((w) => SPECS[w].device === 'driver');
  if (onVfio.length && onDriver.length) {
    throw new Error(`workloads ${onVfio.join(', ')} need ${LAB_DEVICE} on vfio-pci and ${onDriver.join(', ')} on its own driver: run them separately`);
  }
  return { workloads, iommu: chosen, bindVfio: chosen && onDriver.length === 0, bindDriver: onDriver.length > 0 };
}

/** Sizes of what the workloads do; the defaults keep a TCG run short. */
export interface WorkloadParams {
  vfio?: { rounds?: number; sizeMiB?: number };
  hugetlb?: { rounds?: number; sizeMiB?: number };
  dirty?: { walks?: number; mapMiB?: number };
  leak?: { gets?: number; keep?: number };
  premap?: { before?: number; during?: number; sizeMiB?: number };
  netdev?: { upMs?: number };
  qemu?: { name?: string; memoryMiB?: number };
  entrylimit?: { limit?: number; extra?: number };
  memlock?: { limitKiB?: number; sizesKiB?: number[] };
  fault?: { faults?: number; gapMs?: number; late?: number; lateAfterMs?: number };
}

/** Stand-ins in an early workload's argv: the file it creates once set up, the file it waits for. */
export const HELD = '@HELD@';
export const GO = '@GO@';

/** The argv of one workload run inside the guest. */
export function workloadArgv(
  name: WorkloadName,
  bin: string,
  leakModule: string | null,
  params: WorkloadParams,
  out: string,
): string[] {
  switch (name) {
    case 'vfio':
      return [`${bin}/vfio`, '--device', LAB_DEVICE, '--rounds', String(params.vfio?.rounds ?? 10), '--size-mib', String(params.vfio?.sizeMiB ?? 2), '--out', out];
    case 'hugetlb':
      return [`${bin}/vfio`, '--device', LAB_DEVICE, '--hugetlb', '1', '--rounds', String(params.hugetlb?.rounds ?? 4), '--size-mib', String(params.hugetlb?.sizeMiB ?? 4), '--out', out];
    case 'gup':
      return [`${bin}/gup`, '--disk', '/dev/ram0', '--out', out];
    case 'dirty':
      return [`${bin}/dirty`, '--walks', String(params.dirty?.walks ?? 5), '--map-mib', String(params.dirty?.mapMiB ?? 4), '--out', out];
    case 'premap':
      // 5 regions of 3 MiB before the tool, 7 more while it watches, then all 12 unmapped.
      return [`${bin}/vfio`, '--device', LAB_DEVICE, '--premap', String(params.premap?.before ?? 5), '--rounds', String(params.premap?.during ?? 7),
        '--size-mib', String(params.premap?.sizeMiB ?? 3), '--held', HELD, '--go', GO, '--out', out];
    case 'cdev':
      return [`${bin}/cdev`, '--device', LAB_DEVICE, '--rounds', String(params.vfio?.rounds ?? 10), '--size-mib', String(params.vfio?.sizeMiB ?? 2), '--out', out];
    case 'qemu':
      return [`${bin}/qemu`, '--device', LAB_DEVICE, '--name', params.qemu?.name ?? 'lab-vm', '--memory-mib', String(params.qemu?.memoryMiB ?? 256), '--out', out];
    case 'netdev':
      return [`${bin}/netdev`, '--device', LAB_DEVICE, '--up-ms', String(params.netdev?.upMs ?? 500), '--out', out];
    case 'entrylimit':
      return [`${bin}/mapfail`, '--mode', 'entrylimit', '--device', LAB_DEVICE, '--limit', String(params.entrylimit?.limit ?? 8), '--extra', String(params.entrylimit?.extra ?? 3), '--out', out];
    case 'memlock':
    case 'memlock-iommufd':
      // 3 MiB fits in 4 MiB, 3 more do not, 1 MiB does (exactly at the limit), 2 MiB do not.
      return [`${bin}/mapfail`, '--mode', name, '--device', LAB_DEVICE, '--limit-kib', String(params.memlock?.limitKiB ?? 4096),
        '--sizes-kib', (params.memlock?.sizesKiB ?? [3072, 3072, 1024, 2048]).join(','), '--out', out];
    case 'fault':
      // 3 faults 300 ms apart fit the kernel's rate limit (10 lines per 5 s, 3 per VT-d fault); a 4th and
      // 5th right after are cut from the log; after a 6 s pause 1 more is logged, with the count it dropped.
      return [`${bin}/fault`, '--device', LAB_DEVICE, '--faults', String(params.fault?.faults ?? 5), '--gap-ms', String(params.fault?.gapMs ?? 300),
        '--late', String(params.fault?.late ?? 1), '--late-after-ms', String(params.fault?.lateAfterMs ?? 6000), '--out', out];
    case 'leak':
      if (!leakModule) throw new Error('leak workload without its module');
      return [`${bin}/leak`, '--module', leakModule, '--device', LAB_DEVICE, '--gets', String(params.leak?.gets ?? 4), '--keep', String(params.leak?.keep ?? 1), '--out', out];
  }
}

/** Fields every workload's ground truth has. Times are CLOCK_MONOTONIC, like bpf_ktime_get_ns(). */
export interface TruthBase {
  workload: WorkloadName;
  /** `uname -r` in the guest. */
  kernel: string;
  pid: number;
  start_ns: number;
  end_ns: number;
}

/**
 * What the vfio workload asked for. Measured on top of it (bpftrace, this lab): at
 * attach, VFIO type1 itself maps and unmaps 2 pages (8 KiB) in the new domain to test
 * for fine-grained super pages, so the domain sees mapped_bytes + 8192 through
 * iommu_map. Call counts differ by kernel and physical contiguity (6.1: one call per
 * contiguous run, 100+ per 2 MiB round; 6.12: one per round): compare bytes.
 */
export interface VfioTruth extends TruthBase {
  /** premap: what happened after GO; attaches 0 (the attach came before). hugetlb: on 2 MiB huge pages. */
  workload: 'vfio' | 'premap' | 'hugetlb';
  device: string;
  group: number;
  rounds: number;
  size_bytes: number;
  iova: number;
  /** VFIO_IOMMU_MAP_DMA / UNMAP_DMA ioctls, one each per round (not iommu_map calls). */
  map_ioctls: number;
  unmap_ioctls: number;
  mapped_bytes: number;
  unmapped_bytes: number;
  /** 4 KiB pages pinned by VFIO type1 (and unpinned by the unmaps). */
  pinned_pages: number;
  unpinned_pages: number;
  /** One VFIO_SET_IOMMU attach of the group, one detach at close. */
  attaches: number;
  detaches: number;
  /** premap: bytes mapped before GO (and unmapped after it, within unmapped_bytes). */
  premapped_bytes: number;
}

/** The fault workload: each IOVA a transmit descriptor pointed at, and the kernel's log of the window. */
export interface FaultTruth extends TruthBase {
  workload: 'fault';
  device: string;
  group: number;
  ring_iova: string;
  /** The device's transmit head at the end: how many descriptors it fetched. */
  tx_head: number;
  /** In the order the tail reached them; `late`: after the pause past the rate-limit interval. */
  faults: { iova: string; write: boolean; late: boolean }[];
  /** /dev/kmsg lines of IOMMU drivers during the run, as printed. */
  kernel_log: string[];
}

/** The VFIO device cdev on iommufd: IOAS maps pin, unmaps unpin, one attach and one detach of the device. */
export interface CdevTruth extends TruthBase {
  workload: 'cdev';
  device: string;
  cdev: string;
  group: number;
  rounds: number;
  size_bytes: number;
  mapped_bytes: number;
  unmapped_bytes: number;
  pinned_pages: number;
  unpinned_pages: number;
  attaches: number;
  detaches: number;
}

/**
 * QEMU's own trace of what it mapped for the passed-through device: RAM sections
 * added (VFIO_IOMMU_MAP_DMA, every page pinned) and deleted (unmapped at quit).
 */
export interface QemuTruth extends TruthBase {
  workload: 'qemu';
  device: string;
  group: number;
  /** `-name guest=NAME`. */
  vm: string;
  qemu_pid: number;
  memory_bytes: number;
  trace_add_ram: number;
  trace_del: number;
  trace_del_bytes: number;
  mapped_bytes: number;
  /** All of it: what QEMU does not delete itself, its container's close unmaps. */
  unmapped_bytes: number;
  pinned_pages: number;
  unpinned_pages: number;
}

/** The kernel's own iommu:map/unmap tracepoints over the netdev workload's window. */
export interface NetdevTruth extends TruthBase {
  workload: 'netdev';
  device: string;
  interface: string;
  group: number;
  up_ms: number;
  tracepoint_maps: number;
  tracepoint_map_bytes: number;
  tracepoint_unmaps: number;
  tracepoint_unmap_bytes: number;
}

/**
 * What the gup workload asked the kernel to pin. Which GUP entry point does it depends
 * on the kernel (measured with bpftrace in this lab):
 * - 6.1: io_uring registration calls pin_user_pages() (slow path only, one call per
 *   buffer, 592 pages); O_DIRECT calls get_user_pages_fast() (8 calls, 32 pages, all fast).
 * - 6.12: everything goes through pin_user_pages_fast()/gup_fast_fallback(); only the
 *   untouched buffers (16 pages, 2 calls) fall back to __get_user_pages().
 * Executing the workload binary over 9p adds one 1-page pin before start_ns on 6.12:
 * count within [start_ns, end_ns] and for this pid.
 */
export interface GupTruth extends TruthBase {
  workload: 'gup';
  io_uring: { registrations: number; buffers: number; pages: number };
  io_uring_prefaulted: { buffers: number; pages_per_buffer: number; pages: number };
  io_uring_untouched: { buffers: number; pages_per_buffer: number; pages: number };
  io_uring_hugetlb: { buffers: number; huge_page_bytes: number; pages: number };
  o_direct: { disk: string; reads: number; pages_per_read: number; pages: number };
  /** All 4 KiB pages the kernel was asked to pin or get for this process. */
  pinned_pages: number;
  unpinned_pages_io_uring: number;
}

/**
 * Measured on top (bpftrace, iommufd-6.12): IOMMU_IOAS_MAP pins map_bytes / 4 KiB pages
 * in one pin_user_pages_fast() call; each walk pins bitmap_pages_per_walk more.
 */
export interface DirtyTruth extends TruthBase {
  workload: 'dirty';
  ioas_id: number;
  hwpt_id: number;
  mock_stdev_id: number;
  mock_idev_id: number;
  iova: number;
  map_bytes: number;
  iommufd_pinned_pages: number;
  /** The mock domain's page size (half a CPU page), used for marking and reading. */
  page_size: number;
  /** IOMMU_HWPT_GET_DIRTY_BITMAP calls: one iova_bitmap_for_each() walk each. */
  walks: number;
  marked_per_walk: number;
  dirty_marked: number;
  dirty_read: number;
  bitmap_pages_per_walk: number;
}

/**
 * MAP_DMA requests the kernel refused, each with its errno (0: mapped). entrylimit:
 * L + K one-page maps into a container opened with dma_entry_limit L. memlock: maps
 * of the given sizes without CAP_IPC_LOCK under RLIMIT_MEMLOCK = limit_bytes
 * (memlock-iommufd: through IOMMU_IOAS_MAP); locked_before is what the process had
 * mapped (and so locked) before each.
 */
export interface MapFailTruth extends TruthBase {
  workload: 'entrylimit' | 'memlock' | 'memlock-iommufd';
  device: string;
  group: number;
  maps: number;
  failed: number;
  failed_bytes: number;
  /** entrylimit: L, and the module parameter before (put back); 0 for memlock. */
  dma_entry_limit: number;
  dma_entry_limit_before: number;
  /** memlock: RLIMIT_MEMLOCK in bytes; 0 for entrylimit. */
  limit_bytes: number;
  requests: { size: number; locked_before: number; errno: number }[];
}

export interface LeakTruth extends TruthBase {
  workload: 'leak';
  module: string;
  device: string;
  group: number;
  gets: number;
  puts: number;
  leaked: number;
  /** The module function that called iommu_group_get(): the expected `taker`. */
  taker: string;
  putter: string;
  released_at_unload_by: string;
}

/** Ground truth per workload, one entry per run (more than one when a run repeats them). */
export interface GroundTruth {
  vfio?: VfioTruth[];
  gup?: GupTruth[];
  dirty?: DirtyTruth[];
  leak?: LeakTruth[];
  premap?: VfioTruth[];
  netdev?: NetdevTruth[];
  cdev?: CdevTruth[];
  qemu?: QemuTruth[];
  entrylimit?: MapFailTruth[];
  memlock?: MapFailTruth[];
  'memlock-iommufd'?: MapFailTruth[];
  hugetlb?: VfioTruth[];
  fault?: FaultTruth[];
}
