// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty-bitmap walks during live migration: iova_bitmap_for_each() with its
 * callback (vfio_device_log_read_and_clear for VFIO device-side tracking,
 * iommufd's __iommu_read_and_clear_dirty for IOMMU tracking), and the bitmap's
 * lifetime, iova_bitmap_alloc() / iova_bitmap_free(). In vfio.ko on 6.1-6.6,
 * built in under CONFIG_IOMMUFD_DRIVER from 6.7.
 */
#include "common.h"

static __always_inline void dirty_emit(__u16 probe, __s32 ret, __u64 lat, struct iova_bitmap *bitmap,
				       __u64 iova, __u64 length, __u64 page_size, __u64 fn)
{
	struct it_ev_dirty *e;

	/* Every walk is a single record (its callback tells the tracking source): few per second. */
	e = it_reserve(sizeof(*e), IT_EV_DIRTY, probe, ret);
	if (!e)
		return;
	e->lat_ns = lat;
	e->bitmap = (__u64)bitmap;
	e->iova = iova;
	e->length = length;
	e->page_size = page_size;
	e->fn = fn;
	it_submit(e);
}

/* A live bitmap's range, read from the struct. */
static __always_inline void dirty_emit_bitmap(__u16 probe, __s32 ret, __u64 lat,
					      struct iova_bitmap *bitmap, __u64 fn)
{
	__u64 iova = 0, length = 0, page_size = 0;

	if (bitmap && !it_is_err_ptr((__u64)bitmap)) {
		iova = BPF_CORE_READ(bitmap, iova);
		length = BPF_CORE_READ(bitmap, length);
		page_size = 1ULL << (BPF_CORE_READ(bitmap, mapped.pgshift) & 63);
	}
	dirty_emit(probe, ret, lat, bitmap, iova, length, page_size, fn);
}

/* int iova_bitmap_for_each(bitmap, opaque, fn) */
static __always_inline void walk_exit(int ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_DIRTY_WALK, &in);

	if (lat)
		dirty_emit_bitmap(IT_PROBE_DIRTY_WALK, ret, lat, (void *)in.args[0], in.args[1]);
}

/*
 * 6.1's verifier refuses a direct ctx read of a function-pointer argument
 * ("arg2 type FUNC_PROTO is not a struct"); the helper reads it as a number.
 */
SEC("fentry")
int BPF_PROG(dirty_walk_fentry, struct iova_bitmap *bitmap)
{
	__u64 fn = 0;

	bpf_get_func_arg(ctx, 2, &fn);
	it_enter(IT_PROBE_DIRTY_WALK, (__u64)bitmap, fn, 0, 0);
	return 0;
}

SEC("fexit")
int dirty_walk_fexit(void *ctx)
{
	walk_exit((int)it_fexit_ret(ctx));
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(dirty_walk_kprobe, struct iova_bitmap *bitmap, void *opaque, void *fn)
{
	it_enter(IT_PROBE_DIRTY_WALK, (__u64)bitmap, (__u64)fn, 0, 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(dirty_walk_kretprobe, int ret)
{
	walk_exit(ret);
	return 0;
}

/* struct iova_bitmap *iova_bitmap_alloc(iova, length, page_size, data): ERR_PTR on failure */
static __always_inline void alloc_exit(__u64 bitmap)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_DIRTY_ALLOC, &in);

	if (lat)
		dirty_emit(IT_PROBE_DIRTY_ALLOC, it_is_err_ptr(bitmap) ? (__s32)bitmap : 0, lat,
			   it_is_err_ptr(bitmap) ? NULL : (void *)bitmap,
			   in.args[0], in.args[1], in.args[2], 0);
}

SEC("fentry")
int BPF_PROG(dirty_alloc_fentry, unsigned long iova, unsigned long length, unsigned long page_size)
{
	it_enter(IT_PROBE_DIRTY_ALLOC, iova, length, page_size, 0);
	return 0;
}

SEC("fexit")
int dirty_alloc_fexit(void *ctx)
{
	alloc_exit(it_fexit_ret(ctx));
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(dirty_alloc_kprobe, unsigned long iova, unsigned long length, unsigned long page_size)
{
	it_enter(IT_PROBE_DIRTY_ALLOC, iova, length, page_size, 0);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(dirty_alloc_kretprobe, void *bitmap)
{
	alloc_exit((__u64)bitmap);
	return 0;
}

/* void iova_bitmap_free(bitmap): read at entry, before it is freed */
SEC("fentry")
int BPF_PROG(dirty_free_fentry, struct iova_bitmap *bitmap)
{
	dirty_emit_bitmap(IT_PROBE_DIRTY_FREE, 0, 0, bitmap, 0);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(dirty_free_kprobe, struct iova_bitmap *bitmap)
{
	dirty_emit_bitmap(IT_PROBE_DIRTY_FREE, 0, 0, bitmap, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
