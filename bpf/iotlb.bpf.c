// SPDX-License-Identifier: GPL-2.0
/*
 * IOTLB invalidation, where the cost of unmapping is paid: the IOMMU driver's
 * iotlb_sync (intel_iommu_tlb_sync, amd_iommu_iotlb_sync) after unmaps in strict
 * mode and in VFIO's unmanaged domains, and its flush_iotlb_all
 * (intel_flush_iotlb_all, amd_iommu_flush_iotlb_all), which the DMA API's flush
 * queue calls in lazy (DMA-FQ) mode. The core's iommu_iotlb_sync() is inline, so
 * the drivers' ops are the first traceable functions; the planner picks the one
 * the running kernel has. Both take the domain first, attributed to a group like
 * DMA maps.
 */
#include "common.h"

/* Entry: the domain and, for a sync, the gather's range (read now: the driver consumes it). */
static __always_inline void iotlb_enter(__u16 probe, void *domain, struct iommu_iotlb_gather *gather)
{
	__u64 start = 0, end = 0;

	if (gather) {
		start = BPF_CORE_READ(gather, start);
		end = BPF_CORE_READ(gather, end);
	}
	it_enter(probe, (__u64)domain, start, end, 0);
}

static __always_inline int iotlb_agg(__u16 probe, __u64 domain, __s32 gid, __u64 bytes, __u64 lat, __u64 now)
{
	struct it_agg_add a = { .amount = bytes, .lat = lat, .calls = 1, .now = now };

	return it_agg_call(probe, gid, domain, 0, &a);
}

static __always_inline void iotlb_exit(__u16 probe)
{
	struct it_inflight in;
	__u64 lat = it_exit(probe, &in);
	__u64 start, end, bytes;
	struct it_ev_iotlb *e;
	__s32 gid;
	int summed;

	if (!lat)
		return;
	start = in.args[1];
	end = in.args[2];
	/* An empty gather has start ULONG_MAX and end 0. */
	bytes = end >= start && end ? end - start + 1 : 0;
	gid = it_domain_group_id(in.args[0]);
	/* Summed per domain, not per process: invalidations are the domain's cost, whoever unmapped. */
	summed = !it_want_record(0) && iotlb_agg(probe, in.args[0], gid, bytes, lat, in.ts_ns + lat);
	if (it_summed_only(summed))
		return;
	e = it_reserve_at(sizeof(*e), it_type(IT_EV_IOTLB, summed), probe, 0, in.ts_ns + lat);
	if (!e)
		return;
	e->lat_ns = lat;
	e->domain = in.args[0];
	e->start = bytes ? start : 0;
	e->bytes = bytes;
	e->group_id = gid;
	e->pad = 0;
	it_submit(e);
}

/*
 * The four programs of a driver op taking (domain[, gather]): fentry and kprobe
 * read the range, fexit and kretprobe finish. gather: the range's argument, or NULL.
 */
#define IOTLB_PROBE(name, probe, gather, ...)						\
	IT_PAIRED(name, long, iotlb_enter(probe, domain, gather), iotlb_exit(probe), __VA_ARGS__)

/* void iotlb_sync(struct iommu_domain *, struct iommu_iotlb_gather *) */
IOTLB_PROBE(iommu_iotlb_sync, IT_PROBE_IOMMU_IOTLB_SYNC, gather, struct iommu_domain *domain, struct iommu_iotlb_gather *gather)

/* void flush_iotlb_all(struct iommu_domain *) */
IOTLB_PROBE(iommu_flush_all, IT_PROBE_IOMMU_FLUSH_ALL, NULL, struct iommu_domain *domain)

char LICENSE[] SEC("license") = "GPL";
