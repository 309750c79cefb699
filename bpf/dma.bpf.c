// SPDX-License-Identifier: GPL-2.0
/*
 * DMA mappings into IOMMU domains: iommu_map, (__)iommu_unmap, iommu_map_sg (and
 * their _atomic forms, the DMA API's up to 6.2), with
 * latency and return code, attributed to a group through the domain -> group
 * map that attach.bpf.c keeps. The iommu:map and iommu:unmap tracepoints are
 * the fallback where the functions cannot be traced: no latency, no domain,
 * successful mappings only.
 *
 * Only the first arguments are read: iommu_map() gained a gfp argument in 6.3
 * and iommu_map_sg() in 6.3 too, after the ones used here.
 */
#include "common.h"

/* Marks a domain type read at entry in args[3] (a type can be 0). */
#define IT_TYPE_SEEN (1ULL << 32)

/*
 * type: what dma_type() makes of the domain's type at entry; fentry programs read it
 * with a plain load through their typed argument (no helper call), kprobes pass 0.
 */
static __always_inline void dma_enter(__u16 probe, void *domain, __u64 iova, __u64 size, __u64 type)
{
	it_enter(probe, (__u64)domain, iova, size, type);
}

/* An fentry program's typed domain pointer: its type for args[3]. */
static __always_inline __u64 dma_type(const struct iommu_domain *domain)
{
	return domain ? domain->type | IT_TYPE_SEEN : 0;
}

/* IOMMU_DOMAIN_* bit of the domains the kernel's DMA API maps into for its drivers. */
#define IT_DOMAIN_DMA_API 2

/*
 * A successful call summed in the kernel. DMA into a kernel driver's DMA-API
 * domain runs in whatever context was current and belongs to no process: its
 * tgid is left 0, so interrupts and bystanders do not multiply the keys.
 */
static __always_inline int dma_agg(__u16 probe, __u64 domain, const struct it_domain_info *known,
				   __u64 size, __u64 done, __u64 lat, __u64 now, __u64 entry_type)
{
	struct it_agg_add a = { .amount = done, .asked = size, .lat = lat, .calls = 1, .now = now };
	__u32 type = 0;

	/* The type as learned with the group, or as the fentry read it; else from the domain. */
	if (known)
		type = known->type;
	else if (entry_type & IT_TYPE_SEEN)
		type = (__u32)entry_type;
	else if (domain)
		type = BPF_CORE_READ((struct iommu_domain *)domain, type);
	return it_agg_call(probe, known ? known->group_id : -1, domain, type & IT_DOMAIN_DMA_API ? 0 : it_tgid(), &a);
}

/*
 * ret: what the function returned: iommu_map(_atomic) 0 or -errno; iommu_unmap the
 * bytes unmapped; iommu_map_sg(_atomic) the bytes mapped or -errno (its size asked
 * for would need a walk of the scatterlist, so size is what was mapped).
 */
static __always_inline void dma_exit(__u16 probe, __s64 ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(probe, &in);
	struct it_domain_info *known;
	__u64 size, done;
	struct it_ev_dma *e;
	__s32 err, gid;
	int summed;

	if (!lat)
		return;
	size = in.args[2];
	if (probe == IT_PROBE_IOMMU_MAP || probe == IT_PROBE_IOMMU_MAP_ATOMIC) {
		err = (int)ret;
		done = err ? 0 : size;
	} else if (probe == IT_PROBE_IOMMU_UNMAP) {
		err = 0;
		done = ret;
	} else {
		err = ret < 0 ? ret : 0;
		done = ret > 0 ? ret : 0;
		size = done;
	}
	known = it_domain(in.args[0]);
	gid = known ? known->group_id : -1;
	summed = !it_want_record(err < 0) && dma_agg(probe, in.args[0], known, size, done, lat, in.ts_ns + lat, in.args[3]);
	if (it_summed_only(summed))
		return;
	e = it_reserve_at(sizeof(*e), it_type(IT_EV_DMA, summed), probe, err, in.ts_ns + lat);
	if (!e)
		return;
	e->lat_ns = lat;
	e->domain = in.args[0];
	e->iova = in.args[1];
	e->size = size;
	e->done = done;
	e->group_id = gid;
	e->pad = 0;
	it_submit(e);
}

/* The tracepoint variants: no latency, no domain. */
static __always_inline void dma_tp(__u16 probe, __u64 iova, __u64 size, __u64 done)
{
	struct it_ev_dma *e;
	int summed;

	summed = !it_want_record(0) && dma_agg(probe, 0, NULL, size, done, 0, 0, 0);
	if (it_summed_only(summed))
		return;
	e = it_reserve(sizeof(*e), it_type(IT_EV_DMA, summed), probe, 0);
	if (!e)
		return;
	e->lat_ns = 0;
	e->domain = 0;
	e->iova = iova;
	e->size = size;
	e->done = done;
	e->group_id = -1;
	e->pad = 0;
	it_submit(e);
}

/*
 * The four programs of a map function (domain, iova, paddr | sg, size | nents, ...):
 * fentry and kprobe keep (domain, iova, size), fexit and kretprobe finish. sized:
 * 0 where the third argument is a scatterlist, whose size needs a walk.
 */
#define DMA_MAP_PROBE(name, probe, sized, ret_t)						\
	IT_PAIRED(name, ret_t,									\
		  dma_enter(probe, domain, iova, (sized) ? size : 0, it_btf_args ? dma_type(domain) : 0),	\
		  dma_exit(probe, ret), struct iommu_domain *domain, unsigned long iova, __u64 third, __u64 size)

/* int iommu_map(domain, iova, paddr, size, prot[, gfp]) */
DMA_MAP_PROBE(iommu_map, IT_PROBE_IOMMU_MAP, 1, int)
/*
 * int iommu_map_atomic(domain, iova, paddr, size, prot): up to 6.2 the DMA API maps
 * kernel drivers' buffers through it, not through iommu_map (gone in 6.3).
 */
DMA_MAP_PROBE(iommu_map_atomic, IT_PROBE_IOMMU_MAP_ATOMIC, 1, int)

/* tracepoint iommu:map(iova, paddr, size): fires after each successful mapping */
SEC("tp_btf/map")
int BPF_PROG(iommu_map_tp_btf, unsigned long iova, __u64 paddr, __u64 size)
{
	dma_tp(IT_PROBE_IOMMU_MAP, iova, size, size);
	return 0;
}

SEC("raw_tp/map")
int BPF_PROG(iommu_map_raw_tp, unsigned long iova, __u64 paddr, __u64 size)
{
	dma_tp(IT_PROBE_IOMMU_MAP, iova, size, size);
	return 0;
}

SEC("tracepoint/iommu/map")
int iommu_map_tp(struct trace_event_raw_map *ctx)
{
	dma_tp(IT_PROBE_IOMMU_MAP, ctx->iova, ctx->size, ctx->size);
	return 0;
}

/*
 * size_t __iommu_unmap(domain, iova, size, gather), behind iommu_unmap and
 * iommu_unmap_fast (same first arguments as iommu_unmap): bytes unmapped
 */
IT_PAIRED(iommu_unmap, __u64, dma_enter(IT_PROBE_IOMMU_UNMAP, domain, iova, size, it_btf_args ? dma_type(domain) : 0),
	  dma_exit(IT_PROBE_IOMMU_UNMAP, ret), struct iommu_domain *domain, unsigned long iova, __u64 size)

/* tracepoint iommu:unmap(iova, size, unmapped_size) */
SEC("tp_btf/unmap")
int BPF_PROG(iommu_unmap_tp_btf, unsigned long iova, __u64 size, __u64 unmapped)
{
	dma_tp(IT_PROBE_IOMMU_UNMAP, iova, size, unmapped);
	return 0;
}

SEC("raw_tp/unmap")
int BPF_PROG(iommu_unmap_raw_tp, unsigned long iova, __u64 size, __u64 unmapped)
{
	dma_tp(IT_PROBE_IOMMU_UNMAP, iova, size, unmapped);
	return 0;
}

SEC("tracepoint/iommu/unmap")
int iommu_unmap_tp(struct trace_event_raw_unmap *ctx)
{
	dma_tp(IT_PROBE_IOMMU_UNMAP, ctx->iova, ctx->size, ctx->unmapped_size);
	return 0;
}

/* ssize_t iommu_map_sg(domain, iova, sg, nents, prot[, gfp]): bytes mapped or -errno */
DMA_MAP_PROBE(iommu_map_sg, IT_PROBE_IOMMU_MAP_SG, 0, long)
/* ssize_t iommu_map_sg_atomic(domain, iova, sg, nents, prot): the DMA API's, up to 6.2 */
DMA_MAP_PROBE(iommu_map_sg_atomic, IT_PROBE_IOMMU_MAP_SG_ATOMIC, 0, long)

char LICENSE[] SEC("license") = "GPL";
