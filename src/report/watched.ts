/**
 * Which probes feed each section of the report: a section none of whose probes ran
 * (attached, or attached and later detached) was not watched, and its zeros say
 * nothing about the kernel. Names are the report's JSON keys; `attaches` stands for
 * the attach columns of `devices[]` (attaches, detaches, attach_errors).
 */
const DMA = ['iommu.map', 'iommu.unmap', 'iommu.map_sg', 'iommu.map_atomic', 'iommu.map_sg_atomic'];

export const SECTION_PROBES: Record<string, readonly string[]> = {
  dma: DMA,
  map_sizes: DMA,
  attaches: [
    'iommu.attach_device',
    'iommu.detach_device',
    'iommu.attach_group',
    'iommu.detach_group',
    'iommu.attach_handle',
    'iommu.detach_handle',
    'iommu.replace_group',
    'iommu.attach_dev',
    'iommu.tp_attach',
  ],
  pins: ['vfio.pin', 'vfio.unpin', 'iommufd.pin', 'iommufd.unpin', 'iommufd.iopt_pin'],
  gup: ['gup.fast', 'gup.pin_fast', 'gup.get_fast', 'gup.pin', 'gup.pin_remote'],
  dirty: ['dirty.walk'],
  groups: ['iommu.group_get', 'iommu.group_ref_get', 'iommu.group_put'],
  page_faults: ['iommu.io_page_fault'],
  faults: ['iommu.io_page_fault', 'iommu.fault_log'],
  map_failures: ['vfio.map_dma', 'iommufd.ioas_map'],
  iotlb: ['iommu.iotlb_sync', 'iommu.flush_all'],
};

/** The sections (in report order) that no probe which ran could feed. */
export function notWatched(probes: { name: string; status: string }[]): string[] {
  const ran = new Set(probes.filter((p) => p.status === 'attached' || p.status === 'detached').map((p) => p.name));
  return Object.entries(SECTION_PROBES)
    .filter(([, names]) => !names.some((n) => ran.has(n)))
    .map(([section]) => section);
}
