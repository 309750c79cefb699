import type { ProbeName } from '../generated/bpf';
import { probesFor, Quantity, ROLES } from '../aggregate/truth';

/**
 * Which quantities (truth.ts), or probes, feed each section of the report: a section none of
 * whose probes ran (attached, or attached and later detached) was not watched,
 * and its zeros say nothing about the kernel. Names are the report's JSON keys;
 * `attaches` stands for the attach columns of `devices[]` (attaches, detaches,
 * attach_errors).
 */
const SECTIONS: Record<string, (Quantity | ProbeName)[]> = {
  dma: ['map', 'unmap'],
  map_sizes: ['map', 'unmap'],
  attaches: ['attach', 'detach'],
  pins: ['pin.vfio', 'unpin.vfio', 'pin.iommufd', 'unpin.iommufd'],
  gup: ['gup'],
  dirty: ['dirty.walk'],
  groups: ['group.get', 'group.put'],
  // The tracepoint's own records (the older field); faults[] has every source.
  page_faults: ['iommu.io_page_fault'],
  faults: ['page_fault'],
  map_failures: ['map_failure'],
  iotlb: ['iotlb.sync', 'iotlb.flush'],
};

/** Each section's probes: every probe that counts one of its quantities. */
export const SECTION_PROBES: Record<string, readonly string[]> = Object.fromEntries(
  Object.entries(SECTIONS).map(([section, qs]) => [section, qs.flatMap((q) => (q in ROLES ? [q] : probesFor(q as Quantity)))]),
);

/** The sections (in report order) that no probe which ran could feed. */
export function notWatched(probes: { name: string; status: string }[]): string[] {
  const ran = new Set(probes.filter((p) => p.status === 'attached' || p.status === 'detached').map((p) => p.name));
  return Object.entries(SECTION_PROBES)
    .filter(([, names]) => !names.some((n) => ran.has(n)))
    .map(([section]) => section);
}
