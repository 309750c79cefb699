// SPDX-License-Identifier: GPL-2.0
/*
 * The iommu:* tracepoints as events of their own: attach_device_to_domain,
 * add_device_to_group, remove_device_from_group, io_page_fault. Each in three
 * flavours, best first: tp_btf (typed arguments), raw_tp, and the classic
 * tracepoint (reads the formatted record, strings through __data_loc). All of
 * them are attach-like or errors, so every one goes to the ring.
 */
#include "common.h"

static __always_inline struct it_ev_iommu_tp *tp_reserve(__u16 probe, __s32 group_id, __u64 iova,
							 __u32 flags)
{
	struct it_ev_iommu_tp *e;

	e = it_reserve(sizeof(*e), IT_EV_IOMMU_TP, probe, 0);
	if (!e)
		return NULL;
	e->iova = iova;
	e->group_id = group_id;
	e->flags = flags;
	e->dev_name[0] = 0;
	e->driver[0] = 0;
	return e;
}

/* From the struct device * of tp_btf / raw_tp. */
static __always_inline void tp_dev(__u16 probe, __s32 group_id, struct device *dev, __u64 iova, __u32 flags)
{
	struct it_ev_iommu_tp *e = tp_reserve(probe, group_id, iova, flags);

	if (!e)
		return;
	it_dev_name(e->dev_name, dev);
	if (probe == IT_PROBE_IOMMU_IO_PAGE_FAULT)
		it_driver_name(e->driver, dev);
	it_submit(e);
}

/* A __data_loc string of a classic tracepoint record: its offset is the low 16 bits. */
static __always_inline void tp_str(char *dst, void *ctx, __u32 loc)
{
	bpf_probe_read_kernel_str(dst, IT_DEV_NAME_LEN, (void *)((long)ctx + (loc & 0xffff)));
}

/* attach_device_to_domain(dev) */
SEC("tp_btf/attach_device_to_domain")
int BPF_PROG(iommu_tp_attach_tp_btf, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_ATTACH, -1, dev, 0, 0);
	return 0;
}

SEC("raw_tp/attach_device_to_domain")
int BPF_PROG(iommu_tp_attach_raw_tp, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_ATTACH, -1, dev, 0, 0);
	return 0;
}

SEC("tracepoint/iommu/attach_device_to_domain")
int iommu_tp_attach_tp(struct trace_event_raw_iommu_device_event *ctx)
{
	struct it_ev_iommu_tp *e = tp_reserve(IT_PROBE_IOMMU_TP_ATTACH, -1, 0, 0);

	if (!e)
		return 0;
	tp_str(e->dev_name, ctx, ctx->__data_loc_device);
	it_submit(e);
	return 0;
}

/* add_device_to_group(group_id, dev) */
SEC("tp_btf/add_device_to_group")
int BPF_PROG(iommu_tp_add_tp_btf, int group_id, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_ADD, group_id, dev, 0, 0);
	return 0;
}

SEC("raw_tp/add_device_to_group")
int BPF_PROG(iommu_tp_add_raw_tp, int group_id, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_ADD, group_id, dev, 0, 0);
	return 0;
}

static __always_inline void tp_group(__u16 probe, struct trace_event_raw_iommu_group_event *ctx)
{
	struct it_ev_iommu_tp *e = tp_reserve(probe, ctx->gid, 0, 0);

	if (!e)
		return;
	tp_str(e->dev_name, ctx, ctx->__data_loc_device);
	it_submit(e);
}

SEC("tracepoint/iommu/add_device_to_group")
int iommu_tp_add_tp(struct trace_event_raw_iommu_group_event *ctx)
{
	tp_group(IT_PROBE_IOMMU_TP_ADD, ctx);
	return 0;
}

/* remove_device_from_group(group_id, dev) */
SEC("tp_btf/remove_device_from_group")
int BPF_PROG(iommu_tp_remove_tp_btf, int group_id, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_REMOVE, group_id, dev, 0, 0);
	return 0;
}

SEC("raw_tp/remove_device_from_group")
int BPF_PROG(iommu_tp_remove_raw_tp, int group_id, struct device *dev)
{
	tp_dev(IT_PROBE_IOMMU_TP_REMOVE, group_id, dev, 0, 0);
	return 0;
}

SEC("tracepoint/iommu/remove_device_from_group")
int iommu_tp_remove_tp(struct trace_event_raw_iommu_group_event *ctx)
{
	tp_group(IT_PROBE_IOMMU_TP_REMOVE, ctx);
	return 0;
}

/* io_page_fault(dev, iova, flags) */
SEC("tp_btf/io_page_fault")
int BPF_PROG(iommu_io_page_fault_tp_btf, struct device *dev, unsigned long iova, int flags)
{
	tp_dev(IT_PROBE_IOMMU_IO_PAGE_FAULT, -1, dev, iova, flags);
	return 0;
}

SEC("raw_tp/io_page_fault")
int BPF_PROG(iommu_io_page_fault_raw_tp, struct device *dev, unsigned long iova, int flags)
{
	tp_dev(IT_PROBE_IOMMU_IO_PAGE_FAULT, -1, dev, iova, flags);
	return 0;
}

SEC("tracepoint/iommu/io_page_fault")
int iommu_io_page_fault_tp(struct trace_event_raw_iommu_error *ctx)
{
	struct it_ev_iommu_tp *e = tp_reserve(IT_PROBE_IOMMU_IO_PAGE_FAULT, -1, ctx->iova, ctx->flags);

	if (!e)
		return 0;
	tp_str(e->dev_name, ctx, ctx->__data_loc_device);
	tp_str(e->driver, ctx, ctx->__data_loc_driver);
	it_submit(e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
