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
	__s32 gid;

	if (!lat)
		return;
	if (!group && dev)
		group = BPF_CORE_READ(dev, iommu_group);
	gid = it_group_id(group);

	if (!ret && domain && gid >= 0) {
		__u64 key = (__u64)domain;

		if (attach) {
			if (bpf_map_update_elem(&it_domain_group, &key, &gid, BPF_ANY))
				it_count(IT_CNT_DOMAIN_OVERFLOW);
		} else if (it_domain_group_id(key) == gid) {
			bpf_map_delete_elem(&it_domain_group, &key);
		}
	}

	it_hist_add(probe, gid, lat);
	it_probe_hit(probe, ret != 0, 0);

	e = it_reserve(sizeof(*e), IT_EV_ATTACH, probe, ret);
	if (!e)
		return;
	e->lat_ns = lat;
	e->domain = (__u64)domain;
	e->group = (__u64)group;
	e->domain_type = domain ? BPF_CORE_READ(domain, type) : 0;
	e->group_id = gid;
	it_dev_name(e->dev_name, dev);
	it_driver_name(e->driver, dev);
	bpf_ringbuf_submit(e, 0);
}

/* iommu_attach_device(domain, dev) */
SEC("fentry")
int BPF_PROG(iommu_attach_device_fentry, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_DEVICE, domain, dev, NULL);
	return 0;
}

SEC("fexit")
int iommu_attach_device_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_DEVICE, (int)it_fexit_ret(ctx), 1);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_attach_device_kprobe, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_DEVICE, domain, dev, NULL);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_attach_device_kretprobe, int ret)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_DEVICE, ret, 1);
	return 0;
}

/* iommu_detach_device(domain, dev): void */
SEC("fentry")
int BPF_PROG(iommu_detach_device_fentry, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_DEVICE, domain, dev, NULL);
	return 0;
}

SEC("fexit")
int iommu_detach_device_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_DEVICE, 0, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_detach_device_kprobe, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_DEVICE, domain, dev, NULL);
	return 0;
}

SEC("kretprobe")
int iommu_detach_device_kretprobe(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_DEVICE, 0, 0);
	return 0;
}

/* iommu_attach_group(domain, group) */
SEC("fentry")
int BPF_PROG(iommu_attach_group_fentry, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_GROUP, domain, NULL, group);
	return 0;
}

SEC("fexit")
int iommu_attach_group_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_GROUP, (int)it_fexit_ret(ctx), 1);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_attach_group_kprobe, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_GROUP, domain, NULL, group);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_attach_group_kretprobe, int ret)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_GROUP, ret, 1);
	return 0;
}

/* iommu_detach_group(domain, group): void */
SEC("fentry")
int BPF_PROG(iommu_detach_group_fentry, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_GROUP, domain, NULL, group);
	return 0;
}

SEC("fexit")
int iommu_detach_group_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_GROUP, 0, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_detach_group_kprobe, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_GROUP, domain, NULL, group);
	return 0;
}

SEC("kretprobe")
int iommu_detach_group_kretprobe(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_GROUP, 0, 0);
	return 0;
}

/*
 * iommu_replace_group_handle(group, new_domain, handle) (6.11+) or
 * iommu_group_replace_domain(group, new_domain) (6.6+)
 */
SEC("fentry")
int BPF_PROG(iommu_replace_group_fentry, struct iommu_group *group, struct iommu_domain *domain)
{
	attach_enter(IT_PROBE_IOMMU_REPLACE_GROUP, domain, NULL, group);
	return 0;
}

SEC("fexit")
int iommu_replace_group_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_REPLACE_GROUP, (int)it_fexit_ret(ctx), 1);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_replace_group_kprobe, struct iommu_group *group, struct iommu_domain *domain)
{
	attach_enter(IT_PROBE_IOMMU_REPLACE_GROUP, domain, NULL, group);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_replace_group_kretprobe, int ret)
{
	attach_exit(IT_PROBE_IOMMU_REPLACE_GROUP, ret, 1);
	return 0;
}

/* iommu_attach_group_handle(domain, group, handle) (6.11+) */
SEC("fentry")
int BPF_PROG(iommu_attach_handle_fentry, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_HANDLE, domain, NULL, group);
	return 0;
}

SEC("fexit")
int iommu_attach_handle_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_HANDLE, (int)it_fexit_ret(ctx), 1);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_attach_handle_kprobe, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_HANDLE, domain, NULL, group);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_attach_handle_kretprobe, int ret)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_HANDLE, ret, 1);
	return 0;
}

/* iommu_detach_group_handle(domain, group): void (6.11+) */
SEC("fentry")
int BPF_PROG(iommu_detach_handle_fentry, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_HANDLE, domain, NULL, group);
	return 0;
}

SEC("fexit")
int iommu_detach_handle_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_HANDLE, 0, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_detach_handle_kprobe, struct iommu_domain *domain, struct iommu_group *group)
{
	attach_enter(IT_PROBE_IOMMU_DETACH_HANDLE, domain, NULL, group);
	return 0;
}

SEC("kretprobe")
int iommu_detach_handle_kretprobe(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_DETACH_HANDLE, 0, 0);
	return 0;
}

/* __iommu_attach_device(domain, dev): every device-level attach goes through it */
SEC("fentry")
int BPF_PROG(iommu_attach_dev_fentry, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_DEV, domain, dev, NULL);
	return 0;
}

SEC("fexit")
int iommu_attach_dev_fexit(void *ctx)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_DEV, (int)it_fexit_ret(ctx), 1);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_attach_dev_kprobe, struct iommu_domain *domain, struct device *dev)
{
	attach_enter(IT_PROBE_IOMMU_ATTACH_DEV, domain, dev, NULL);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_attach_dev_kretprobe, int ret)
{
	attach_exit(IT_PROBE_IOMMU_ATTACH_DEV, ret, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
