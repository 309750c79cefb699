// SPDX-License-Identifier: GPL-2.0
/*
 * What was attached before tracing began. Reading /sys/kernel/iommu_groups/N/type
 * runs iommu_group_show_type(group, buf) with the group as its argument; user space
 * reads that file for every group once the probes are attached, and this program
 * reports the group's current domain and each of its devices (one attach record
 * per device, ret 0, lat_ns 0). It also teaches it_domain_group the domain, so DMA
 * into domains attached at boot (kernel drivers) or by VMs that were already running
 * is attributed like DMA into domains attached while tracing.
 */
#include "common.h"

/* Devices reported per group: PCI groups behind a bridge can hold several. */
#define SNAPSHOT_MAX_DEVICES 16

static __always_inline void snapshot_device(struct iommu_group *group, struct iommu_domain *domain,
					    __u32 type, __s32 gid, struct device *dev)
{
	struct it_ev_attach *e = it_reserve(sizeof(*e), IT_EV_ATTACH, IT_PROBE_IOMMU_GROUP_SNAPSHOT, 0);

	if (!e)
		return;
	e->lat_ns = 0;
	e->domain = (__u64)domain;
	e->group = (__u64)group;
	e->domain_type = type;
	e->group_id = gid;
	it_dev_name(e->dev_name, dev);
	it_driver_name(e->driver, dev);
	it_submit(e);
}

static __always_inline void snapshot(struct iommu_group *group)
{
	struct iommu_domain *domain = BPF_CORE_READ(group, domain);
	__s32 gid = it_group_id(group);
	struct list_head *head = &group->devices;
	struct list_head *pos = BPF_CORE_READ(group, devices.next);
	__u32 type = domain ? BPF_CORE_READ(domain, type) : 0;

	if (domain && gid >= 0)
		it_domain_learn((__u64)domain, gid, type);
	for (int i = 0; i < SNAPSHOT_MAX_DEVICES && pos && pos != head; i++) {
		struct group_device *gd = (void *)pos - bpf_core_field_offset(struct group_device, list);

		snapshot_device(group, domain, type, gid, BPF_CORE_READ(gd, dev));
		pos = BPF_CORE_READ(pos, next);
	}
}

/* ssize_t iommu_group_show_type(struct iommu_group *group, char *buf) */
SEC("fentry")
int BPF_PROG(iommu_group_snapshot_fentry, struct iommu_group *group)
{
	snapshot(group);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_group_snapshot_kprobe, struct iommu_group *group)
{
	snapshot(group);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
