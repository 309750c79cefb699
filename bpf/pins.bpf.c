// SPDX-License-Identifier: GPL-2.0
/*
 * Pages pinned for DMA by VFIO type1 (vfio_pin_pages_remote /
 * vfio_unpin_pages_remote in vfio_iommu_type1.ko) and by iommufd (in-kernel
 * accesses: iommufd_access_pin_pages / _unpin_pages; IOAS mappings: the iopt pin
 * path, pfn_reader_user_pin).
 */
#include "common.h"

#define IT_PAGE_SHIFT 12

/* Pages spanned by [iova, iova + length). */
static __always_inline __u64 span_pages(__u64 iova, __u64 length)
{
	if (!length)
		return 0;
	return ((iova + length - 1) >> IT_PAGE_SHIFT) - (iova >> IT_PAGE_SHIFT) + 1;
}

static __always_inline int pin_is_unpin(__u16 probe)
{
	return probe == IT_PROBE_VFIO_UNPIN || probe == IT_PROBE_IOMMUFD_UNPIN || probe == IT_PROBE_IOMMUFD_IOPT_UNPIN;
}

/* now: the call's end for paired probes (entry + lat), 0 for the single ones. */
static __always_inline void pin_emit(__u16 probe, __u64 lat, __u64 now, __u64 addr, __u64 nr_pages, __s64 pinned)
{
	struct it_agg_add a = { .amount = pinned, .asked = nr_pages, .lat = lat, .calls = 1, .now = now };
	struct it_ev_pin *e;
	int summed;

	/*
	 * Pins are summed; unpins go to the ring: a VFIO unpin's GUP unpins are
	 * matched to it by time in user space, and they are few (one per range).
	 */
	summed = !it_want_record(pinned < 0 || pin_is_unpin(probe)) && it_agg_call(probe, -1, 0, it_tgid(), &a);
	if (it_summed_only(summed))
		return;
	e = it_reserve_at(sizeof(*e), it_type(IT_EV_PIN, summed), probe, pinned < 0 ? pinned : 0, now);
	if (!e)
		return;
	e->lat_ns = lat;
	e->addr = addr;
	e->nr_pages = nr_pages;
	e->pinned = pinned;
	it_submit(e);
}

/* Entry stores (addr, nr_pages); ret: pages pinned/unpinned or -errno. */
static __always_inline void pin_exit(__u16 probe, __s64 ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(probe, &in);

	if (lat)
		pin_emit(probe, lat, in.ts_ns + lat, in.args[0], in.args[1], ret);
}

/* long vfio_pin_pages_remote(dma, vaddr, npage, pfn_base, limit, batch): pages pinned */
IT_PAIRED(vfio_pin, long, it_enter(IT_PROBE_VFIO_PIN, vaddr, npage, 0, 0), pin_exit(IT_PROBE_VFIO_PIN, ret),
	  void *dma, unsigned long vaddr, long npage)

/*
 * long vfio_unpin_pages_remote(dma, iova, pfn, npage, do_accounting): pages
 * unpinned (reserved pfns are not counted)
 */
IT_PAIRED(vfio_unpin, long, it_enter(IT_PROBE_VFIO_UNPIN, iova, npage, 0, 0), pin_exit(IT_PROBE_VFIO_UNPIN, ret),
	  void *dma, __u64 iova, unsigned long pfn, long npage)

/* int iommufd_access_pin_pages(access, iova, length, out_pages, flags): 0 or -errno */
static __always_inline void iommufd_pin_exit(int ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_IOMMUFD_PIN, &in);

	if (lat)
		pin_emit(IT_PROBE_IOMMUFD_PIN, lat, in.ts_ns + lat, in.args[0], in.args[1], ret ? ret : (__s64)in.args[1]);
}

IT_PAIRED(iommufd_pin, int, it_enter(IT_PROBE_IOMMUFD_PIN, iova, span_pages(iova, length), 0, 0), iommufd_pin_exit(ret),
	  void *access, unsigned long iova, unsigned long length)

/* void iommufd_access_unpin_pages(access, iova, length) */
static __always_inline void iommufd_unpin(unsigned long iova, unsigned long length)
{
	__u64 n = span_pages(iova, length);

	pin_emit(IT_PROBE_IOMMUFD_UNPIN, 0, 0, iova, n, n);
}

IT_ENTRY(iommufd_unpin, iommufd_unpin(iova, length), void *access, unsigned long iova, unsigned long length)

/*
 * static int pfn_reader_user_pin(user, pages, start_index, last_index): 0 or
 * -errno; on success user->upages_start..upages_end were pinned from
 * pages->uptr + start_index pages.
 */
static __always_inline void iopt_pin_enter(struct pfn_reader_user *user, struct iopt_pages *pages,
					   unsigned long start_index, unsigned long last_index)
{
	__u64 addr = (__u64)BPF_CORE_READ(pages, uptr) + (start_index << IT_PAGE_SHIFT);

	it_enter(IT_PROBE_IOMMUFD_IOPT_PIN, addr, last_index - start_index + 1, (__u64)user, 0);
}

static __always_inline void iopt_pin_exit(int ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_IOMMUFD_IOPT_PIN, &in);
	struct pfn_reader_user *user;
	__s64 pinned = ret;

	if (!lat)
		return;
	if (!ret) {
		user = (void *)in.args[2];
		pinned = BPF_CORE_READ(user, upages_end) - BPF_CORE_READ(user, upages_start);
	}
	pin_emit(IT_PROBE_IOMMUFD_IOPT_PIN, lat, in.ts_ns + lat, in.args[0], in.args[1], pinned);
}

IT_PAIRED(iommufd_iopt_pin, int, iopt_pin_enter(user, pages, start_index, last_index), iopt_pin_exit(ret),
	  struct pfn_reader_user *user, struct iopt_pages *pages, unsigned long start_index, unsigned long last_index)

/*
 * static void batch_unpin(batch, pages, first_page_off, npages): iommufd releasing
 * npages user pages of an IOAS mapping (unmap, or an area torn down), where not inlined.
 */
static __always_inline void iopt_unpin(struct iopt_pages *pages, __u64 npages)
{
	pin_emit(IT_PROBE_IOMMUFD_IOPT_UNPIN, 0, 0, (__u64)BPF_CORE_READ(pages, uptr), npages, npages);
}

IT_ENTRY(iommufd_iopt_unpin, iopt_unpin(pages, npages), void *batch, struct iopt_pages *pages,
	 unsigned int first_page_off, __u64 npages)

char LICENSE[] SEC("license") = "GPL";
