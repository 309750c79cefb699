import { ProbeName } from '../generated/bpf';

/** The quantities the tool counts. Each is counted from one set of probes, chosen here. */
export type Quantity =
  | 'attach'
  | 'detach'
  | 'map'
  | 'unmap'
  | 'gup'
  | 'pin.vfio'
  | 'pin.iommufd'
  | 'unpin.vfio'
  | 'unpin.iommufd'
  | 'unpin.gup'
  | 'group.get'
  | 'group.put'
  | 'dirty.walk'
  | 'device.added'
  | 'page_fault'
  | 'map_failure'
  | 'iotlb.sync'
  | 'iotlb.flush';

/**
 * What a probe's events count, and its rank among the probes that count the same
 * quantity: of those attached, only the best rank counts, so nothing is counted
 * twice; 'always' probes are entry points of their own and add to it.
 */
export interface Role {
  counts: Quantity;
  rank: number | 'always';
}

const r = (counts: Quantity, rank: Role['rank'] = 'always'): Role => ({ counts, rank });

/**
 * The one table of which probe is the truth for what. Every probe of the object
 * has an entry (null: its events count nothing themselves), so a probe added to
 * bpf/include/events.h fails tsc until it is placed here.
 */
export const ROLES: Record<ProbeName, Role | null> = {
  // The attach API VFIO and iommufd call (one event per logical attach or detach);
  // else the per-device core, which also sees DMA-ownership moves to the blocking
  // domain and back; else the attach_device_to_domain tracepoint.
  'iommu.attach_device': r('attach', 0),
  'iommu.attach_group': r('attach', 0),
  'iommu.attach_handle': r('attach', 0),
  'iommu.replace_group': r('attach', 0),
  'iommu.attach_dev': r('attach', 1),
  'iommu.tp_attach': r('attach', 2),
  'iommu.detach_device': r('detach', 0),
  'iommu.detach_group': r('detach', 0),
  'iommu.detach_handle': r('detach', 0),
  'iommu.group_get': r('group.get'),
  'iommu.group_ref_get': r('group.get'),
  'iommu.group_put': r('group.put'),
  // iommu_map_sg maps through the core's __iommu_map, not iommu_map: no overlap.
  // Up to 6.2 the DMA API maps kernel drivers' buffers through the _atomic forms,
  // which share the core but not the exported functions: no overlap either.
  'iommu.map': r('map'),
  'iommu.map_sg': r('map'),
  'iommu.map_atomic': r('map'),
  'iommu.map_sg_atomic': r('map'),
  'iommu.unmap': r('unmap'),
  // The fast-path core when watched, else its wrappers; pin_user_pages (io_uring
  // on 6.1) and pin_user_pages_remote never go through it.
  'gup.fast': r('gup', 0),
  'gup.pin_fast': r('gup', 1),
  'gup.get_fast': r('gup', 1),
  'gup.pin': r('gup'),
  'gup.pin_remote': r('gup'),
  // Only refine gup.fast's fast/slow split, in the kernel.
  'gup.fast_only': null,
  'gup.slow': null,
  // io_uring buffers, O_DIRECT and other pinners release here; an unpin nested in
  // a VFIO or iommufd unpin is counted there (see UnpinNesting).
  'gup.unpin': r('unpin.gup'),
  'gup.unpin_page': r('unpin.gup'),
  'vfio.pin': r('pin.vfio'),
  'vfio.unpin': r('unpin.vfio'),
  // iommufd pins user pages in one place (the iopt pin path) whoever asks, access
  // pins included: count there when watched, else at the access API.
  'iommufd.iopt_pin': r('pin.iommufd', 0),
  'iommufd.pin': r('pin.iommufd', 1),
  // Likewise for unpins: the iopt path releases what any of them pinned.
  'iommufd.iopt_unpin': r('unpin.iommufd', 0),
  'iommufd.unpin': r('unpin.iommufd', 1),
  'dirty.walk': r('dirty.walk'),
  'dirty.alloc': null,
  'dirty.free': null,
  // What was attached before tracing began: teaches domains, counts nothing.
  'iommu.group_snapshot': null,
  'iommu.tp_add': r('device.added'),
  'iommu.tp_remove': null,
  // AMD-Vi (and SMMUv3) call the tracepoint; VT-d only logs: each fault has one source.
  'iommu.io_page_fault': r('page_fault'),
  'iommu.fault_log': r('page_fault'),
  // User-space map requests: their failures, explained (successes are counted at iommu.map).
  'vfio.map_dma': r('map_failure'),
  'iommufd.ioas_map': r('map_failure'),
  // The IOMMU driver's invalidations: one op per kernel, no overlap.
  'iommu.iotlb_sync': r('iotlb.sync'),
  'iommu.flush_all': r('iotlb.flush'),
  // A domain's end: retires its in-kernel sums (src/source/kernel-aggregates.ts), counts nothing.
  'iommu.domain_free': null,
  'selftest.getppid': null,
  'selftest.hist': null,
};

/**
 * The probes whose successful calls the kernel sums in aggregated mode (it_agg,
 * and their latency in it_hist) instead of sending each to the ring: the one
 * table the BPF programs, the replay's summing (callsOf) and the aggregator
 * follow. Failed calls always come one by one; so do a GUP unpin inside a VFIO
 * unpin (user space takes it out of GUP's count) and the path unpins, which claim
 * those by thread and time. The lab's aggregated test holds the programs to it.
 */
export const SUMMED: Record<ProbeName, boolean> = {
  'iommu.attach_device': false, 'iommu.attach_group': false, 'iommu.attach_handle': false, 'iommu.replace_group': false,
  'iommu.attach_dev': false, 'iommu.tp_attach': false, 'iommu.detach_device': false, 'iommu.detach_group': false,
  'iommu.detach_handle': false, 'iommu.group_get': false, 'iommu.group_ref_get': false, 'iommu.group_put': false,
  'iommu.map': true, 'iommu.map_sg': true, 'iommu.map_atomic': true, 'iommu.map_sg_atomic': true, 'iommu.unmap': true,
  'gup.fast': true, 'gup.pin_fast': true, 'gup.get_fast': true, 'gup.pin': true, 'gup.pin_remote': true,
  'gup.fast_only': false, 'gup.slow': false,
  // Summed only outside a VFIO unpin (bpf/gup.bpf.c): an event cannot say which, so replays count them one by one.
  'gup.unpin': true, 'gup.unpin_page': true,
  'vfio.pin': true, 'vfio.unpin': false, 'iommufd.iopt_pin': true, 'iommufd.pin': true,
  'iommufd.iopt_unpin': false, 'iommufd.unpin': false,
  'dirty.walk': false, 'dirty.alloc': false, 'dirty.free': false,
  'iommu.group_snapshot': false, 'iommu.tp_add': false, 'iommu.tp_remove': false, 'iommu.io_page_fault': false, 'iommu.fault_log': false,
  'iommu.domain_free': false,
  // Successful requests: counted per probe (their failures are what the report explains).
  'vfio.map_dma': true, 'iommufd.ioas_map': true,
  'iommu.iotlb_sync': true, 'iommu.flush_all': true,
  'selftest.getppid': true, 'selftest.hist': true,
};

/** SUMMED's probes as a set: asked once per event on a replay. */
const SUMMED_PROBES = new Set<string>((Object.keys(SUMMED) as ProbeName[]).filter((p) => SUMMED[p]));

/** The last probe asked about and its answer: events come in runs of one probe. */
let lastAsked = '';
let lastSummed = false;

/** Whether the kernel sums the probe's successful calls (SUMMED; false for names from elsewhere). */
export function isSummed(probe: string): boolean {
  if (probe !== lastAsked) {
    lastAsked = probe;
    lastSummed = SUMMED_PROBES.has(probe);
  }
  return lastSummed;
}

/** Whether a quantity is released memory (unpins), which nests and so goes one by one from events. */
export function isUnpin(q: Quantity | undefined): boolean {
  return q === 'unpin.vfio' || q === 'unpin.iommufd' || q === 'unpin.gup';
}

/** ROLES as a map: a capture may name a probe __proto__, and lookups are per event. */
const ROLE_OF = new Map<string, Role | null>(Object.entries(ROLES));

/** The role of a probe named in an event or a capture ('unknown', or a name from another version: none). */
export function roleOf(probe: string): Role | null {
  return ROLE_OF.get(probe) ?? null;
}

/** Every probe that can count `q`, best first. */
export function probesFor(q: Quantity): ProbeName[] {
  return (Object.keys(ROLES) as ProbeName[]).filter((p) => ROLES[p]?.counts === q);
}

/** The probes whose events count `q`, given the probes attached. */
export function sources(q: Quantity, attached: ReadonlySet<string>): Set<ProbeName> {
  const all = probesFor(q);
  const ranked = all.filter((p) => ROLES[p]!.rank !== 'always' && attached.has(p));
  const best = Math.min(...ranked.map((p) => ROLES[p]!.rank as number));
  return new Set(all.filter((p) => ROLES[p]!.rank === 'always' || (ROLES[p]!.rank === best && attached.has(p))));
}

/** The probes whose events count any of `qs`. */
export function sourcesOf(qs: Quantity[], attached: ReadonlySet<string>): Set<ProbeName> {
  return new Set(qs.flatMap((q) => [...sources(q, attached)]));
}
