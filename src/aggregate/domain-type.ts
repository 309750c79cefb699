/**
 * IOMMU_DOMAIN_* as the kernel composes them from its __IOMMU_DOMAIN_* bits (the same
 * values from 6.1 to 6.18): PAGING 1, DMA_API 2, PT 4, FQ 8, SVA 16, PLATFORM 32,
 * NESTED 64. The names are the ones sysfs prints in /sys/kernel/iommu_groups/N/type.
 */
const DOMAIN_TYPES: Record<number, string> = {
  0: 'blocked',
  1: 'unmanaged',
  3: 'DMA',
  4: 'identity',
  11: 'DMA-FQ',
  16: 'sva',
  32: 'platform',
  64: 'nested',
};

export type DomainTypeName = string;

/** The domain type's name, or `0x..` for a combination this table does not know. */
export function domainTypeName(type: number): DomainTypeName {
  return DOMAIN_TYPES[type] ?? `0x${type.toString(16)}`;
}

/** A domain the kernel made for its own DMA API or identity mapping: a kernel driver's. */
export function isKernelDomain(type: number): boolean {
  return (type & (2 | 4)) !== 0;
}
