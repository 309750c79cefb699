// SPDX-License-Identifier: GPL-2.0
/*
 * IOMMU group references, for the reference ledger and the leak detector: every
 * reference taken (iommu_group_get() when it returns a group,
 * iommu_group_ref_get()) and dropped (iommu_group_put() of a group) becomes one
 * record with the taker's kernel stack. User space balances them by pointer.
 */
#include "common.h"

static __always_inline void group_ref(void *ctx, __u16 probe, struct iommu_group *group,
				      struct device *dev)
{
	struct it_ev_group_ref *e;
	long n;

	if (!group)
		return;
	e = it_reserve(sizeof(*e), IT_EV_GROUP_REF, probe, 0);
	if (!e)
		return;
	e->group = (__u64)group;
	e->group_id = it_group_id(group);
	it_dev_name(e->dev_name, dev);
	n = bpf_get_stack(ctx, e->stack, sizeof(e->stack), 0);
	e->nr_frames = n > 0 ? n / sizeof(e->stack[0]) : 0;
	it_submit(e);
}

/* iommu_group_get(dev): a reference only when it returns a group */
SEC("fexit")
int BPF_PROG(iommu_group_get_fexit, struct device *dev)
{
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_GET, (void *)it_fexit_ret(ctx), dev);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_group_get_kprobe, struct device *dev)
{
	it_enter(IT_PROBE_IOMMU_GROUP_GET, (__u64)dev, 0, 0, 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(iommu_group_get_kretprobe, struct iommu_group *group)
{
	struct it_inflight in;

	if (!it_exit(IT_PROBE_IOMMU_GROUP_GET, &in))
		return 0;
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_GET, group, (void *)in.args[0]);
	return 0;
}

/* iommu_group_ref_get(group): always takes one */
SEC("fentry")
int BPF_PROG(iommu_group_ref_get_fentry, struct iommu_group *group)
{
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_REF_GET, group, NULL);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_group_ref_get_kprobe, struct iommu_group *group)
{
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_REF_GET, group, NULL);
	return 0;
}

/* iommu_group_put(group): NULL-safe; read at entry, before the group may be freed */
SEC("fentry")
int BPF_PROG(iommu_group_put_fentry, struct iommu_group *group)
{
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_PUT, group, NULL);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(iommu_group_put_kprobe, struct iommu_group *group)
{
	group_ref(ctx, IT_PROBE_IOMMU_GROUP_PUT, group, NULL);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
