// SPDX-License-Identifier: GPL-2.0
/*
 * iommu_domain_free(): the end of a domain (a VM's VFIO domain when it quits, an
 * iommufd page table when destroyed). No call can add to its sums after this, so
 * user space reads them a last time and deletes their keys: told through it_freed.
 * What it_domain_group knew of it goes now, before the address is reused.
 */
#include "common.h"

static __always_inline void domain_free(struct iommu_domain *domain)
{
	__u64 key = (__u64)domain;
	it_time_t now = bpf_ktime_get_ns();

	bpf_map_delete_elem(&it_domain_group, &key);
	bpf_map_update_elem(&it_freed, &key, &now, BPF_ANY);
}

IT_ENTRY(iommu_domain_free, domain_free(domain), struct iommu_domain *domain)
