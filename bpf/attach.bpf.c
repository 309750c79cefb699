// SPDX-License-Identifier: GPL-2.0
/*
 * Attach, detach and replace of IOMMU domains, for whole groups and single
 * devices, with latency and return code. Successful attaches teach the
 * domain -> group map that attributes DMA to groups (dma.bpf.c).
 *
 * The entry programs store the arguments in one order, (domain, dev, group),
 * whatever the kernel function's order: the replace functions take the group
 * first. From 6.11 iommufd attaches through the handle variants
 * (iommu_attach_group_handle and friends) while VFIO type1 keeps
 * iommu_attach_group: both are watched, as separate probes.
 */
#include "common.h"

static __always_inline void attach_enter(__u16 probe, void *domain, void *dev, void *group)
{
	it_enter(probe, (__u64)domain, (__u64)dev, (__u64)group, 0);
}

/* attach: 1 for attach/replace (the domain now serves the group), 0 for detach. */
static __always_inline void attach_exit(__u16 probe, __s32 ret, int attach)
{
	struct it_inflight in;
	__u64 lat = it_exit(probe, &in);
	struct iommu_domain *domain = (void *)in.args[0];
	struct device *dev = (void *)in.args[1];
	struct iommu_group *group = (void *)in.args[2];
	struct it_ev_attach *e;
	__u32 type;
	__s32 gid;

	if (!lat)
		return;
	if (!group && dev)
		group = BPF_CORE_READ(dev, iommu_group);
	gid = it_group_id(group);
	type = domain ? BPF_CORE_READ(domain, type) : 0;

	if (!ret && domain && gid >= 0) {
		__u64 key = (__u64)domain;

		if (attach) {
			it_domain_learn(key, gid, type);
		} else if (it_domain_group_id(key) == gid) {
			bpf_map_delete_elem(&it_domain_group, &key);
		}
	}


	e = it_reserve_at(sizeof(*e), IT_EV_ATTACH, probe, ret, in.ts_ns + lat);
	if (!e)
		return;
	e->lat_ns = lat;
	e->domain = (__u64)domain;
	e->group = (__u64)group;
	e->domain_type = type;
	e->group_id = gid;
	it_dev_name(e->dev_name, dev);
	it_driver_name(e->driver, dev);
	it_submit(e);
}

/*
 * The four programs of one probe: fentry and kprobe store (domain, dev, group)
 * from the function's first two arguments (a, b); fexit and kretprobe finish.
 * attach: 1 when the domain now serves the group, 0 for a detach; returns: 1
 * when the function returns an errno, 0 when it returns void.
 */
#define ATTACH_PROBE(name, probe, ta, a, tb, b, domain, dev, group, attach, returns)		\
	IT_PAIRED(name, int, attach_enter(probe, domain, dev, group),			\
		  attach_exit(probe, (returns) ? ret : 0, attach), ta a, tb b)

#define DOMAIN struct iommu_domain *
#define DEVICE struct device *
#define GROUP struct iommu_group *

/* iommu_attach_device(domain, dev) */
ATTACH_PROBE(iommu_attach_device, IT_PROBE_IOMMU_ATTACH_DEVICE, DOMAIN, domain, DEVICE, dev, domain, dev, NULL, 1, 1)
/* iommu_detach_device(domain, dev): void */
ATTACH_PROBE(iommu_detach_device, IT_PROBE_IOMMU_DETACH_DEVICE, DOMAIN, domain, DEVICE, dev, domain, dev, NULL, 0, 0)
/* iommu_attach_group(domain, group) */
ATTACH_PROBE(iommu_attach_group, IT_PROBE_IOMMU_ATTACH_GROUP, DOMAIN, domain, GROUP, group, domain, NULL, group, 1, 1)
/* iommu_detach_group(domain, group): void */
ATTACH_PROBE(iommu_detach_group, IT_PROBE_IOMMU_DETACH_GROUP, DOMAIN, domain, GROUP, group, domain, NULL, group, 0, 0)
/*
 * iommu_replace_group_handle(group, new_domain, handle) (6.11+) or
 * iommu_group_replace_domain(group, new_domain) (6.6+): the group comes first
 */
ATTACH_PROBE(iommu_replace_group, IT_PROBE_IOMMU_REPLACE_GROUP, GROUP, group, DOMAIN, domain, domain, NULL, group, 1, 1)
/* iommu_attach_group_handle(domain, group, handle) (6.11+) */
ATTACH_PROBE(iommu_attach_handle, IT_PROBE_IOMMU_ATTACH_HANDLE, DOMAIN, domain, GROUP, group, domain, NULL, group, 1, 1)
/* iommu_detach_group_handle(domain, group): void (6.11+) */
ATTACH_PROBE(iommu_detach_handle, IT_PROBE_IOMMU_DETACH_HANDLE, DOMAIN, domain, GROUP, group, domain, NULL, group, 0, 0)
/* __iommu_attach_device(domain, dev): every device-level attach goes through it */
ATTACH_PROBE(iommu_attach_dev, IT_PROBE_IOMMU_ATTACH_DEV, DOMAIN, domain, DEVICE, dev, domain, dev, NULL, 1, 1)

char LICENSE[] SEC("license") = "GPL";
