import { ProbeName, ProgramName } from '../generated/bpf';
import { AttachMode, Candidate, ProbeSpec } from './types';

/*
 * Every logical probe, with its candidates in order of preference. Programs are
 * named `<probe>_<mode>` after the probe with its dot made an underscore
 * (iommu.map -> iommu_map_fentry); one program serves every kernel symbol a
 * candidate names, the planner sets the target before load.
 *
 * Kernels this was checked against: Debian 6.1, Debian 6.12, the lab's iommufd
 * 6.12 build, and 6.18 (tracepoints only). Where a function moved between
 * kernels, each name gets its own candidate; only one exists on a given kernel.
 */

interface Opts {
  module?: string;
  minArgs?: number;
  lacks?: string[];
  iommu?: string;
}

/*
 * The program names a probe's helper builds, as types: a helper takes only probes
 * whose programs the object has (src/generated/bpf.ts), so a probe or program
 * missing from bpf/*.bpf.c, or a misspelt name, fails tsc.
 */
type Underscored<P extends string> = P extends `${infer A}.${infer B}` ? `${A}_${B}` : P;
type Suffix<M extends AttachMode> = M extends 'tracepoint' ? 'tp' : M;
type With<M extends AttachMode> = { [P in ProbeName]: `${Underscored<P>}_${Suffix<M>}` extends ProgramName ? P : never }[ProbeName];
type Trampolines = With<'fentry' | 'fexit'>;
type Kprobes = With<'kprobe' | 'kretprobe'>;

function prog(probe: ProbeName, attach: AttachMode) {
  const suffix = attach === 'tracepoint' ? 'tp' : attach;
  // The helpers' signatures (With<...>) have made sure this name is one of the object's.
  return { program: `${probe.replace('.', '_')}_${suffix}` as ProgramName, attach };
}

/** The catalogue's own specs: names of the object's probes and programs (the planner takes any). */
type Spec = ProbeSpec<ProbeName, ProgramName>;
type Cand = Candidate<ProgramName>;

function cand(probe: ProbeName, mode: AttachMode, target: string, modes: AttachMode[], o: Opts): Cand {
  const c: Cand = { mode, target, programs: modes.map((m) => prog(probe, m)) };
  if (o.module) c.module = o.module;
  if (o.minArgs) c.minArgs = o.minArgs;
  if (o.lacks && o.lacks.length) c.lacks = o.lacks;
  if (o.iommu) c.iommu = o.iommu;
  return c;
}

/** Entry + exit programs (latency, return): fentry/fexit, else kprobe/kretprobe. */
function paired(probe: Trampolines & Kprobes, targets: string[], o: Opts = {}): Cand[] {
  return [
    ...targets.map((t) => cand(probe, 'fexit', t, ['fentry', 'fexit'], o)),
    ...targets.map((t) => cand(probe, 'kretprobe', t, ['kprobe', 'kretprobe'], o)),
  ];
}

/** One program at the function's entry: fentry, else kprobe. */
function entry(probe: With<'fentry'> & With<'kprobe'>, targets: string[], o: Opts = {}): Cand[] {
  return [
    ...targets.map((t) => cand(probe, 'fentry', t, ['fentry'], o)),
    ...targets.map((t) => cand(probe, 'kprobe', t, ['kprobe'], o)),
  ];
}

/** One program at the function's return: fexit, else kprobe + kretprobe (the entry keeps the arguments). */
function exit(probe: With<'fexit'> & With<'kretprobe'>, targets: string[], o: Opts = {}, kretprobeOnly = false): Cand[] {
  const kmodes: AttachMode[] = kretprobeOnly ? ['kretprobe'] : ['kprobe', 'kretprobe'];
  return [
    ...targets.map((t) => cand(probe, 'fexit', t, ['fexit'], o)),
    ...targets.map((t) => cand(probe, 'kretprobe', t, kmodes, o)),
  ];
}

/** A tracepoint in its three flavours: tp_btf, raw_tp, classic (perf) tracepoint. */
function tracepoint(probe: With<'tp_btf' | 'raw_tp' | 'tracepoint'>, category: string, event: string, lacks: string[] = []): Cand[] {
  const o = { lacks };
  return [
    cand(probe, 'tp_btf', event, ['tp_btf'], o),
    cand(probe, 'raw_tp', event, ['raw_tp'], o),
    cand(probe, 'tracepoint', `${category}:${event}`, ['tracepoint'], o),
  ];
}

/*
 * Functions that are built in on some kernels and in a module on others: the same
 * candidates for both places, the usual one first (only one exists on a kernel).
 */
const BUILT_IN_FIRST = (module: string): Opts[] => [{}, { module }];
const MODULE_FIRST = (module: string): Opts[] => [{ module }, {}];

/** Per IOMMU driver: its iotlb_sync and flush_iotlb_all operations (6.1 to 6.12). */
const IOMMU_OPS: [iommu: string, sync: string, flush: string][] = [
  ['intel-iommu', 'intel_iommu_tlb_sync', 'intel_flush_iotlb_all'],
  ['amd-iommu', 'amd_iommu_iotlb_sync', 'amd_iommu_flush_iotlb_all'],
  ['arm-smmu-v3', 'arm_smmu_iotlb_sync', 'arm_smmu_flush_iotlb_all'],
];

type IommuOp = (typeof IOMMU_OPS)[number];

/** Paired candidates on each IOMMU driver's operation, trampolines first. */
function iommuOps(probe: Trampolines & Kprobes, target: (op: IommuOp) => string, minArgs: number): Cand[] {
  const per = IOMMU_OPS.map((op) => paired(probe, [target(op)], { iommu: op[0], minArgs }));
  return [...per.map((c) => c[0]), ...per.map((c) => c[1])];
}

const DMA_TP_LACKS = ['latency', 'domain', 'group attribution', 'errors'];

export const CATALOGUE: Spec[] = [
  // Attach, detach, replace: (domain, dev | group); latency and return code.
  {
    name: 'iommu.attach_device',
    description: 'iommu_attach_device(): a domain attached to a single-device group',
    candidates: paired('iommu.attach_device', ['iommu_attach_device'], { minArgs: 2 }),
  },
  {
    name: 'iommu.detach_device',
    description: 'iommu_detach_device(): a single-device group detached from its domain',
    candidates: paired('iommu.detach_device', ['iommu_detach_device'], { minArgs: 2 }),
  },
  {
    name: 'iommu.attach_group',
    description: 'iommu_attach_group(): a domain attached to a whole group (VFIO type1, iommufd)',
    candidates: paired('iommu.attach_group', ['iommu_attach_group'], { minArgs: 2 }),
  },
  {
    name: 'iommu.detach_group',
    description: 'iommu_detach_group(): a group detached from a domain',
    candidates: paired('iommu.detach_group', ['iommu_detach_group'], { minArgs: 2 }),
  },
  {
    name: 'iommu.attach_handle',
    description: 'iommu_attach_group_handle(): a domain attached to a whole group by iommufd (6.11+)',
    candidates: paired('iommu.attach_handle', ['iommu_attach_group_handle'], { minArgs: 2 }),
  },
  {
    name: 'iommu.detach_handle',
    description: 'iommu_detach_group_handle(): a group detached from an iommufd domain (6.11+)',
    candidates: paired('iommu.detach_handle', ['iommu_detach_group_handle'], { minArgs: 2 }),
  },
  {
    name: 'iommu.replace_group',
    description: 'iommu_replace_group_handle() / iommu_group_replace_domain(): a group moved to another domain (iommufd)',
    // iommufd switched to the handle variant in 6.11 (Debian's 6.12 included); the
    // old function stays exported there but has no caller left.
    candidates: paired('iommu.replace_group', ['iommu_replace_group_handle', 'iommu_group_replace_domain'], { minArgs: 2 }),
  },
  {
    name: 'iommu.attach_dev',
    description: '__iommu_attach_device(): every device-level attach, with the device',
    candidates: paired('iommu.attach_dev', ['__iommu_attach_device'], { minArgs: 2 }),
  },
  {
    name: 'iommu.group_snapshot',
    description: 'iommu_group_show_type(): each group\'s domain and devices when tracing starts (read through sysfs), so DMA into domains attached before is placed',
    candidates: entry('iommu.group_snapshot', ['iommu_group_show_type'], { minArgs: 2 }),
  },

  // Group references: one record per reference, with the taker's stack.
  {
    name: 'iommu.group_get',
    description: 'iommu_group_get(): a group reference taken (when a group is returned)',
    candidates: exit('iommu.group_get', ['iommu_group_get'], { minArgs: 1 }),
  },
  {
    name: 'iommu.group_ref_get',
    description: 'iommu_group_ref_get(): a group reference taken',
    candidates: entry('iommu.group_ref_get', ['iommu_group_ref_get'], { minArgs: 1 }),
  },
  {
    name: 'iommu.group_put',
    description: 'iommu_group_put(): a group reference dropped',
    candidates: entry('iommu.group_put', ['iommu_group_put'], { minArgs: 1 }),
  },

  // DMA mappings.
  {
    name: 'iommu.map',
    description: 'iommu_map(): IOVA ranges mapped into a domain (bytes, latency, errors)',
    candidates: [
      ...paired('iommu.map', ['iommu_map'], { minArgs: 4 }),
      // Fires per successful mapping inside the core, iommu_map_sg's included.
      ...tracepoint('iommu.map', 'iommu', 'map', DMA_TP_LACKS),
    ],
  },
  {
    name: 'iommu.unmap',
    description: 'iommu_unmap() and iommu_unmap_fast(): IOVA ranges unmapped from a domain (bytes, latency)',
    candidates: [
      // Both exported functions end in the static __iommu_unmap; VFIO type1 unmaps
      // with iommu_unmap_fast, so iommu_unmap alone misses nearly all of it.
      ...paired('iommu.unmap', ['__iommu_unmap', 'iommu_unmap'], { minArgs: 3 }),
      ...tracepoint('iommu.unmap', 'iommu', 'unmap', ['latency', 'domain', 'group attribution']),
    ],
  },
  {
    name: 'iommu.map_sg',
    description: 'iommu_map_sg(): scatterlists mapped into a domain (bytes mapped, latency, errors)',
    candidates: paired('iommu.map_sg', ['iommu_map_sg'], { minArgs: 2 }),
  },
  // Up to 6.2 the DMA API maps kernel drivers' buffers through these, not iommu_map.
  {
    name: 'iommu.map_atomic',
    description: 'iommu_map_atomic() (up to 6.2): kernel drivers\' DMA-API mappings (bytes, latency, errors)',
    candidates: paired('iommu.map_atomic', ['iommu_map_atomic'], { minArgs: 4 }),
  },
  {
    name: 'iommu.map_sg_atomic',
    description: 'iommu_map_sg_atomic() (up to 6.2): kernel drivers\' DMA-API scatterlists (bytes mapped, latency, errors)',
    candidates: paired('iommu.map_sg_atomic', ['iommu_map_sg_atomic'], { minArgs: 2 }),
  },

  // IOTLB invalidation: the core's iommu_iotlb_sync() and flush path are inline or
  // static; the drivers' ops are the first traceable functions (Intel's and AMD's
  // are both built into Debian's kernels, only the translating one is called).
  {
    name: 'iommu.iotlb_sync',
    description: 'the IOMMU driver\'s iotlb_sync: IOVA ranges invalidated after unmaps (strict mode, VFIO domains), bytes and latency',
    candidates: iommuOps('iommu.iotlb_sync', ([, sync]) => sync, 2),
  },
  {
    name: 'iommu.flush_all',
    description: 'the IOMMU driver\'s flush_iotlb_all: whole-domain invalidations (the DMA API\'s flush queue in lazy mode), latency',
    candidates: iommuOps('iommu.flush_all', ([, , flush]) => flush, 1),
  },
  {
    name: 'iommu.domain_free',
    description: 'iommu_domain_free(): a domain freed (a VM quit, an iommufd page table destroyed); its in-kernel sums are then read a last time and their keys deleted',
    candidates: entry('iommu.domain_free', ['iommu_domain_free'], { minArgs: 1 }),
  },

  // get_user_pages.
  {
    name: 'gup.fast',
    description: 'gup_fast_fallback() (internal_get_user_pages_fast() before 6.10): every GUP-fast call',
    candidates: paired('gup.fast', ['gup_fast_fallback', 'internal_get_user_pages_fast'], { minArgs: 3 }),
  },
  {
    name: 'gup.fast_only',
    description: 'gup_fast() (lockless_pages_from_mm() before 6.10): pages pinned without locks, where not inlined',
    candidates: exit('gup.fast_only', ['gup_fast', 'lockless_pages_from_mm'], {}, true),
  },
  {
    name: 'gup.slow',
    description: '__gup_longterm_locked(): the slow path, which GUP-fast falls back to for the pages left',
    candidates: entry('gup.slow', ['__gup_longterm_locked'], { minArgs: 3 }),
  },
  {
    name: 'gup.pin_fast',
    description: 'pin_user_pages_fast(): pages pinned for DMA (io_uring, iommufd, RDMA)',
    candidates: paired('gup.pin_fast', ['pin_user_pages_fast'], { minArgs: 3 }),
  },
  {
    name: 'gup.get_fast',
    description: 'get_user_pages_fast(): pages referenced without FOLL_PIN',
    candidates: paired('gup.get_fast', ['get_user_pages_fast'], { minArgs: 3 }),
  },
  {
    name: 'gup.pin',
    description: 'pin_user_pages(): pages pinned through the slow path (io_uring buffers up to 6.4)',
    candidates: paired('gup.pin', ['pin_user_pages'], { minArgs: 3 }),
  },
  {
    name: 'gup.pin_remote',
    description: 'pin_user_pages_remote(): pages of another mm pinned (VFIO type1)',
    // 7 arguments before 6.5: the 6.1 trampoline refuses it, the kprobe pair takes over.
    candidates: paired('gup.pin_remote', ['pin_user_pages_remote'], { minArgs: 4 }),
  },
  {
    name: 'gup.unpin',
    description: 'unpin_user_pages(): pinned pages released',
    candidates: entry('gup.unpin', ['unpin_user_pages'], { minArgs: 2 }),
  },
  {
    name: 'gup.unpin_page',
    description: 'unpin_user_page(): one pinned page released',
    candidates: entry('gup.unpin_page', ['unpin_user_page']),
  },

  // Pins for DMA by VFIO type1 and iommufd.
  {
    name: 'vfio.pin',
    description: 'vfio_pin_pages_remote(): pages VFIO type1 pinned for a DMA mapping',
    candidates: MODULE_FIRST('vfio_iommu_type1').flatMap((where) => paired('vfio.pin', ['vfio_pin_pages_remote'], { ...where, minArgs: 3 })),
  },
  {
    name: 'vfio.unpin',
    description: 'vfio_unpin_pages_remote(): pages VFIO type1 unpinned on unmap',
    candidates: MODULE_FIRST('vfio_iommu_type1').flatMap((where) => paired('vfio.unpin', ['vfio_unpin_pages_remote'], { ...where, minArgs: 4 })),
  },
  {
    name: 'iommufd.pin',
    description: 'iommufd_access_pin_pages(): pages an in-kernel iommufd access pinned',
    candidates: BUILT_IN_FIRST('iommufd').flatMap((where) => paired('iommufd.pin', ['iommufd_access_pin_pages'], { ...where, minArgs: 3 })),
  },
  {
    name: 'iommufd.unpin',
    description: 'iommufd_access_unpin_pages(): pages an in-kernel iommufd access unpinned',
    candidates: BUILT_IN_FIRST('iommufd').flatMap((where) => entry('iommufd.unpin', ['iommufd_access_unpin_pages'], { ...where, minArgs: 3 })),
  },
  {
    name: 'iommufd.iopt_pin',
    description: 'pfn_reader_user_pin(): user pages iommufd pinned for an IOAS mapping, where not inlined',
    candidates: BUILT_IN_FIRST('iommufd').flatMap((where) => paired('iommufd.iopt_pin', ['pfn_reader_user_pin'], { ...where, minArgs: 4 })),
  },
  {
    name: 'iommufd.iopt_unpin',
    description: 'batch_unpin(): user pages iommufd released from an IOAS mapping, where not inlined',
    candidates: BUILT_IN_FIRST('iommufd').flatMap((where) => entry('iommufd.iopt_unpin', ['batch_unpin'], { ...where, minArgs: 4 })),
  },

  // User-space map requests, for their failures and why (locked memory, entry limit).
  {
    name: 'vfio.map_dma',
    description: 'VFIO_IOMMU_MAP_DMA through vfio_iommu_type1_ioctl(): map requests, their latency, and for failures the locked memory, RLIMIT_MEMLOCK, CAP_IPC_LOCK and the container\'s entries against dma_entry_limit',
    // vfio_dma_do_map() is inlined into the ioctl handler on Debian 6.1 and 6.12;
    // the handler is the driver's ops callback, so it always has a symbol.
    candidates: MODULE_FIRST('vfio_iommu_type1').flatMap((where) => paired('vfio.map_dma', ['vfio_iommu_type1_ioctl'], { ...where, minArgs: 3 })),
    addresses: [{ constant: 'it_cfg_dma_entry_limit_addr', module: 'vfio_iommu_type1', symbol: 'dma_entry_limit' }],
  },
  {
    name: 'iommufd.ioas_map',
    description: 'iommufd_ioas_map(): IOMMU_IOAS_MAP requests, their latency, and for failures the user\'s locked memory, RLIMIT_MEMLOCK and CAP_IPC_LOCK',
    candidates: BUILT_IN_FIRST('iommufd').flatMap((where) => paired('iommufd.ioas_map', ['iommufd_ioas_map'], { ...where, minArgs: 1 })),
  },

  // Dirty tracking: built in from 6.7 (CONFIG_IOMMUFD_DRIVER), in vfio.ko on 6.1-6.6.
  {
    name: 'dirty.walk',
    description: 'iova_bitmap_for_each(): one dirty-bitmap walk, with the callback that consumes it',
    candidates: BUILT_IN_FIRST('vfio').flatMap((where) => paired('dirty.walk', ['iova_bitmap_for_each'], { ...where, minArgs: 3 })),
  },
  {
    name: 'dirty.alloc',
    description: 'iova_bitmap_alloc(): a dirty bitmap set up over an IOVA range',
    candidates: BUILT_IN_FIRST('vfio').flatMap((where) => paired('dirty.alloc', ['iova_bitmap_alloc'], { ...where, minArgs: 3 })),
  },
  {
    name: 'dirty.free',
    description: 'iova_bitmap_free(): a dirty bitmap released',
    candidates: BUILT_IN_FIRST('vfio').flatMap((where) => entry('dirty.free', ['iova_bitmap_free'], { ...where, minArgs: 1 })),
  },

  // The iommu:* tracepoints as events of their own.
  {
    name: 'iommu.tp_attach',
    description: 'tracepoint iommu:attach_device_to_domain: a device attached to a domain',
    candidates: tracepoint('iommu.tp_attach', 'iommu', 'attach_device_to_domain'),
  },
  {
    name: 'iommu.tp_add',
    description: 'tracepoint iommu:add_device_to_group: a device joined an IOMMU group',
    candidates: tracepoint('iommu.tp_add', 'iommu', 'add_device_to_group'),
  },
  {
    name: 'iommu.tp_remove',
    description: 'tracepoint iommu:remove_device_from_group: a device left an IOMMU group',
    candidates: tracepoint('iommu.tp_remove', 'iommu', 'remove_device_from_group'),
  },
  {
    name: 'iommu.io_page_fault',
    description: 'tracepoint iommu:io_page_fault: a DMA fault reported by the IOMMU',
    candidates: tracepoint('iommu.io_page_fault', 'iommu', 'io_page_fault'),
  },
  {
    // VT-d's fault handler (dmar_fault, its per-record part inlined on Debian's
    // kernels) logs each fault and never reports it to the core: its log line is
    // the only place the fault's device, address, direction and reason appear.
    name: 'iommu.fault_log',
    description: "tracepoint printk:console, VT-d's fault lines only: the IOMMU faults intel-iommu logs (it never calls iommu:io_page_fault)",
    candidates: tracepoint('iommu.fault_log', 'printk', 'console').map((c) => ({ ...c, iommu: 'intel-iommu' })),
  },

  {
    name: 'selftest.getppid',
    description: 'test and benchmark producer: records per getppid() of the target process',
    optIn: true,
    candidates: [
      { mode: 'tracepoint', target: 'syscalls:sys_enter_getppid', programs: [{ program: 'selftest_getppid', attach: 'tracepoint' }] },
    ],
  },
  {
    name: 'selftest.hist',
    description: 'benchmark: one in-kernel histogram update per getppid() of the target process',
    optIn: true,
    candidates: [
      { mode: 'tracepoint', target: 'syscalls:sys_enter_getppid', programs: [{ program: 'selftest_hist', attach: 'tracepoint' }] },
    ],
  },
];
