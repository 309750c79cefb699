// SPDX-License-Identifier: GPL-2.0
/*
 * get_user_pages: the fast entry points (pin_user_pages_fast,
 * get_user_pages_fast and the function both end in, gup_fast_fallback on 6.10+
 * or internal_get_user_pages_fast before), pin_user_pages,
 * pin_user_pages_remote, and the unpin side for the pinned-page ledger.
 *
 * Fast/slow split of gup.fast: the lockless part (gup_fast, before 6.10
 * lockless_pages_from_mm) is static and usually inlined. Where it is a
 * function, gup.fast_only reads what it pinned; otherwise gup.slow sees the
 * slow path (__gup_longterm_locked) take over the pages the lockless part left,
 * on the same thread, while gup.fast is in flight.
 */
#include "common.h"

/* start, nr_pages, gup_flags: the same positions in every fast entry point */
static __always_inline void gup_enter(__u16 probe, __u64 start, __u64 nr_pages, __u64 gup_flags)
{
	it_enter(probe, start, nr_pages, gup_flags, 0);
}

/* ret: pages pinned or -errno; the record's hdr.ret carries it as is */
static __always_inline void gup_exit(__u16 probe, __s64 ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(probe, &in);
	struct it_ev_gup *e;
	__u64 pinned;
	int summed = 0;

	if (!lat)
		return;
	pinned = ret > 0 ? ret : 0;
	if (!it_want_record(ret < 0)) {
		/* What the aggregator makes of the record below (src/aggregate/engine.ts onGup). */
		__u32 asked = in.args[1], fast = in.fast_seen ? in.fast_pages : (__u32)pinned;
		struct it_agg_add a = {
			.amount = pinned, .asked = asked, .lat = lat, .calls = 1, .now = in.ts_ns + lat,
			.partial = (__s64)(__s32)ret < (__s64)asked,
			.fast = probe == IT_PROBE_GUP_FAST ? (fast < pinned ? fast : pinned) : 0,
		};

		summed = it_agg_call(probe, -1, 0, it_tgid(), &a);
	}
	if (it_summed_only(summed))
		return;
	e = it_reserve_at(sizeof(*e), it_type(IT_EV_GUP, summed), probe, ret, in.ts_ns + lat);
	if (!e)
		return;
	e->lat_ns = lat;
	e->start = in.args[0];
	e->nr_pages = in.args[1];
	e->gup_flags = in.args[2];
	e->fast_seen = in.fast_seen;
	e->fast_pages = in.fast_seen ? in.fast_pages : pinned;
	it_submit(e);
}

/*
 * The four programs of an entry point taking (start, nr_pages, gup_flags, ...):
 * nr_t is its nr_pages type, ret_t its return type (pages pinned or -errno).
 */
#define GUP_PROBE(name, probe, nr_t, ret_t)							\
	IT_PAIRED(name, ret_t, gup_enter(probe, start, nr_pages, gup_flags), gup_exit(probe, ret),	\
		  unsigned long start, nr_t nr_pages, unsigned int gup_flags)

/* The gup.fast call in flight on this thread, if any. */
static __always_inline struct it_inflight *gup_fast_in_flight(void)
{
	return it_inflight_find(IT_PROBE_GUP_FAST);
}

/* gup_fast_fallback / internal_get_user_pages_fast(start, nr_pages, gup_flags, pages): int */
GUP_PROBE(gup_fast, IT_PROBE_GUP_FAST, unsigned long, int)

/* gup_fast / lockless_pages_from_mm(start, end, gup_flags, pages): pages pinned without locks */
static __always_inline void gup_fast_only(__u64 pinned)
{
	struct it_inflight *in = gup_fast_in_flight();

	if (!in)
		return;
	in->fast_pages = pinned;
	in->fast_seen = 1;
}

SEC("fexit")
int gup_fast_only_fexit(void *ctx)
{
	gup_fast_only(it_fexit_ret(ctx));
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(gup_fast_only_kretprobe, unsigned long pinned)
{
	gup_fast_only(pinned);
	return 0;
}

/*
 * __gup_longterm_locked(mm, start, nr_pages, ...): under gup.fast it gets the
 * pages the lockless part did not pin.
 */
static __always_inline void gup_slow(__u64 nr_pages)
{
	struct it_inflight *in = gup_fast_in_flight();

	if (!in || in->fast_seen)
		return;
	in->fast_pages = in->args[1] > nr_pages ? in->args[1] - nr_pages : 0;
	in->fast_seen = 1;
}

IT_ENTRY(gup_slow, gup_slow(nr_pages), void *mm, unsigned long start, unsigned long nr_pages)

/* pin_user_pages_fast(start, int nr_pages, gup_flags, pages): int */
GUP_PROBE(gup_pin_fast, IT_PROBE_GUP_PIN_FAST, int, int)

/* get_user_pages_fast(start, int nr_pages, gup_flags, pages): int */
GUP_PROBE(gup_get_fast, IT_PROBE_GUP_GET_FAST, int, int)

/*
 * pin_user_pages(start, nr_pages, gup_flags, pages[, vmas]): long. The slow
 * path without GUP-fast; io_uring registers its buffers with it up to 6.4.
 */
GUP_PROBE(gup_pin, IT_PROBE_GUP_PIN, unsigned long, long)

/*
 * pin_user_pages_remote(mm, start, nr_pages, gup_flags, pages, [vmas,] locked): long.
 * 7 arguments up to 6.4: more than the 6.1 x86 trampoline takes.
 */
IT_PAIRED(gup_pin_remote, long, gup_enter(IT_PROBE_GUP_PIN_REMOTE, start, nr_pages, gup_flags),
	  gup_exit(IT_PROBE_GUP_PIN_REMOTE, ret), void *mm, unsigned long start, unsigned long nr_pages,
	  unsigned int gup_flags)

/*
 * Whether a VFIO unpin is in flight on this thread: a GUP unpin inside it is part
 * of it, and goes to the ring for user space to take out of GUP's count
 * (src/aggregate/unpins.ts matches them by thread and time).
 */
static __always_inline int gup_unpin_nested(void)
{
	return it_inflight_find(IT_PROBE_VFIO_UNPIN) != NULL;
}

/* Unpins: no return value, the pages released are the pages asked for. */
static __always_inline void gup_unpin(__u16 probe, __u64 npages)
{
	struct it_agg_add a = { .amount = npages, .asked = npages, .calls = 1 };
	struct it_ev_pin *e;
	int summed;

	summed = !it_want_record(gup_unpin_nested()) && it_agg_call(probe, -1, 0, it_tgid(), &a);
	if (it_summed_only(summed))
		return;
	e = it_reserve(sizeof(*e), it_type(IT_EV_PIN, summed), probe, 0);
	if (!e)
		return;
	e->lat_ns = 0;
	e->addr = 0;
	e->nr_pages = npages;
	e->pinned = npages;
	it_submit(e);
}

/* unpin_user_pages(pages, npages) */
IT_ENTRY(gup_unpin, gup_unpin(IT_PROBE_GUP_UNPIN, npages), void *pages, unsigned long npages)

/* unpin_user_page(page) */
IT_ENTRY(gup_unpin_page, gup_unpin(IT_PROBE_GUP_UNPIN_PAGE, 1))

char LICENSE[] SEC("license") = "GPL";
