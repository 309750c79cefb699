/* SPDX-License-Identifier: GPL-2.0 */
/* What every program includes: helpers, kernel types, event layouts, maps. */
#ifndef IOMMUTRACE_COMMON_H
#define IOMMUTRACE_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "kernel.h"
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "hist.h"
#include "maps.h"
#include "config.h"

static __always_inline void it_count(__u32 counter)
{
	__u64 *v = bpf_map_lookup_elem(&it_counters, &counter);

	if (v)
		*v += 1;
}

_Static_assert(sizeof(((struct it_hist_val *)0)->count) == IT_HIST_SUB * sizeof(__u64), "one it_hist key holds a power of two's buckets");

static __always_inline void it_hist_add(__u16 probe, __s32 group_id, __u64 domain, __u64 lat_ns)
{
	__u16 bucket = it_hist_bucket(lat_ns);
	struct it_hist_key key = { .probe = probe, .bucket = bucket & ~(IT_HIST_SUB - 1), .group_id = group_id, .domain = domain };
	struct it_hist_val zero = {}, *v = bpf_map_lookup_elem(&it_hist, &key);

	if (!v) {
		/*
		 * Another CPU may create the key between the lookup and this update
		 * (EEXIST): look it up again either way and add there, or the call is lost.
		 */
		bpf_map_update_elem(&it_hist, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&it_hist, &key);
		if (!v) {
			it_count(IT_CNT_HIST_OVERFLOW);
			return;
		}
	}
	v->count[bucket & (IT_HIST_SUB - 1)] += 1;
}

/* What one call adds to its it_agg entry. */
struct it_agg_add {
	__u64 amount;
	__u64 asked;
	__u64 fast;
	__u64 partial;
	__u64 lat;		/* 0: the call has no latency (tracepoints, unpins) */
	__u64 calls;		/* 1, or the selftest's burst */
	__u64 now;		/* the call's end when the caller has it (entry + lat), else 0 */
};

/*
 * Sums one call into it_agg (and its latency into it_hist); 1 when done, 0 when
 * it_agg is full: the caller then sends the call to the ring as a single event,
 * so nothing is lost (counted in IT_CNT_AGG_OVERFLOW).
 */
static __always_inline int it_agg_call(__u16 probe, __s32 group_id, __u64 domain, __u32 tgid,
				       const struct it_agg_add *a)
{
	struct it_agg_key key = { .probe = probe, .group_id = group_id, .tgid = tgid, .domain = domain };
	struct it_agg_val *v;
	/* Paired probes already know when the call ended: no second clock read (see it_reserve_at). */
	__u64 now = a->now ? a->now : bpf_ktime_get_ns();

	key.size_class = a->amount ? it_log2_u64(a->amount) + 1 : 0;
	v = bpf_map_lookup_elem(&it_agg, &key);
	if (!v) {
		struct it_agg_val fresh = {};

		bpf_map_update_elem(&it_agg, &key, &fresh, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&it_agg, &key);
		if (!v) {
			it_count(IT_CNT_AGG_OVERFLOW);
			return 0;
		}
	}
	/* This CPU's first call of the key (an entry made on another CPU is zero here). */
	if (!v->first_ns) {
		v->first_ns = now;
		v->tid = (__u32)bpf_get_current_pid_tgid();
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	}
	v->calls += a->calls;
	v->amount += a->amount;
	v->asked += a->asked;
	v->fast += a->fast;
	v->partial += a->partial;
	v->last_ns = now;
	if (a->lat) {
		v->lat_sum += a->lat;
		if (a->lat > v->lat_max)
			v->lat_max = a->lat;
		it_hist_add(probe, group_id, domain, a->lat);
	}
	return 1;
}

/*
 * The programs of one probe, one per attach mode the planner may pick per kernel
 * (src/probes/catalogue.ts names them so). IT_PAIRED makes name_fentry, name_fexit,
 * name_kprobe and name_kretprobe: `enter` runs in the first two over the traced
 * function's leading arguments (the trailing parameters, declared as BPF_PROG and
 * BPF_KPROBE take them); `leave` runs in the other two with its return value in
 * `ret`, of type ret_t. In `enter`, it_btf_args is 1 where the arguments are BTF
 * pointers a program may follow directly (fentry), 0 in a kprobe.
 */
#define IT_PAIRED(name, ret_t, enter, leave, ...)					\
	SEC("fentry")									\
	int BPF_PROG(name##_fentry, ##__VA_ARGS__)					\
	{										\
		const int it_btf_args = 1;						\
											\
		(void)it_btf_args;							\
		enter;									\
		return 0;								\
	}										\
	SEC("fexit")									\
	int name##_fexit(void *ctx)							\
	{										\
		ret_t ret = (ret_t)it_fexit_ret(ctx);					\
											\
		(void)ret;								\
		leave;									\
		return 0;								\
	}										\
	SEC("kprobe")									\
	int BPF_KPROBE(name##_kprobe, ##__VA_ARGS__)					\
	{										\
		const int it_btf_args = 0;						\
											\
		(void)it_btf_args;							\
		enter;									\
		return 0;								\
	}										\
	SEC("kretprobe")								\
	int name##_kretprobe(struct pt_regs *ctx)					\
	{										\
		ret_t ret = (ret_t)PT_REGS_RC(ctx);					\
											\
		(void)ret;								\
		leave;									\
		return 0;								\
	}

/* An entry-only probe: name_fentry and name_kprobe run `enter` (as in IT_PAIRED). */
#define IT_ENTRY(name, enter, ...)							\
	SEC("fentry")									\
	int BPF_PROG(name##_fentry, ##__VA_ARGS__)					\
	{										\
		enter;									\
		return 0;								\
	}										\
	SEC("kprobe")									\
	int BPF_KPROBE(name##_kprobe, ##__VA_ARGS__)					\
	{										\
		enter;									\
		return 0;								\
	}

/* The caller's tgid. */
static __always_inline __u32 it_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

/* Notes the calling process in it_requesters, once until user space has read it. */
static __always_inline void it_note_requester(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct it_requester r = { .tid = (__u32)id };

	if (bpf_map_lookup_elem(&it_requesters, &tgid))
		return;
	bpf_get_current_comm(r.comm, sizeof(r.comm));
	bpf_map_update_elem(&it_requesters, &tgid, &r, BPF_NOEXIST);
}

/*
 * Reserves a record of `size` bytes and fills its header; NULL (and the loss
 * counted) when the ring is full. Callers submit with it_submit().
 * now: the event's time when the caller has it (a paired probe's exit), 0 to
 * read the clock here; a clock read is an emulated HPET access in the 6.1 lab.
 */
static __always_inline void *it_reserve_at(__u64 size, __u16 type, __u16 probe, __s32 ret, __u64 now)
{
	struct it_event_hdr *h = bpf_ringbuf_reserve(&it_events, size, 0);
	__u64 id;

	if (!h) {
		it_count(IT_CNT_RINGBUF_LOST);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	h->ts_ns = now ? now : bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->type = type;
	h->probe = probe;
	h->ret = ret;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	return h;
}

static __always_inline void *it_reserve(__u64 size, __u16 type, __u16 probe, __s32 ret)
{
	return it_reserve_at(size, type, probe, ret, 0);
}

/*
 * Submits a reserved record. Where the reader also drains the ring on a timer
 * (it_cfg_wake_bytes set), a record wakes it only once that much waits: a wakeup
 * is an irq_work self-IPI whose handler, waking the reader, runs inside the
 * program's own time (interrupts are on in tracing programs).
 */
static __always_inline void it_submit(void *e)
{
	__u64 flags = 0;

	if (it_cfg_wake_bytes && bpf_ringbuf_query(&it_events, BPF_RB_AVAIL_DATA) < it_cfg_wake_bytes)
		flags = BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/*
 * Whether an event goes to the ring: always in record mode, and always when it
 * needs a single record (failures, references, attaches); otherwise it is summed
 * in the kernel with it_agg_call().
 */
static __always_inline int it_want_record(int needs_single)
{
	return it_cfg_record_all == 1 || needs_single;
}

/* Whether a summed call is done with (no record), and the record's type when it is not. */
static __always_inline int it_summed_only(int summed)
{
	return summed && it_cfg_record_all != 2;
}

static __always_inline __u16 it_type(__u16 type, int summed)
{
	return summed ? type | IT_EV_FLAG_SUMMED : type;
}

/* This thread's in-flight slots; created at its first entry. */
static __always_inline struct it_task_inflight *it_task_inflight(__u64 flags)
{
	return bpf_task_storage_get(&it_inflight, bpf_get_current_task_btf(), 0, flags);
}

/* The call of `probe` in flight on this thread, or NULL. */
static __always_inline struct it_inflight *it_inflight_find(__u16 probe)
{
	struct it_task_inflight *t = it_task_inflight(0);

	if (!t)
		return NULL;
	for (int i = 0; i < IT_INFLIGHT_SLOTS; i++)
		if (t->probe[i] == probe)
			return &t->slot[i];
	return NULL;
}

/*
 * Entry half of a paired probe: the time and the arguments the exit needs, in
 * the probe's slot (one whose exit was never seen is reused) or a free one.
 */
static __always_inline void it_enter(__u16 probe, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	struct it_task_inflight *t = it_task_inflight(BPF_LOCAL_STORAGE_GET_F_CREATE);
	int i, at = -1;

	if (!t) {
		it_count(IT_CNT_INFLIGHT_OVERFLOW);
		return;
	}
	for (i = 0; i < IT_INFLIGHT_SLOTS; i++) {
		if (t->probe[i] == probe) {
			at = i;
			break;
		}
		if (at < 0 && t->probe[i] == IT_PROBE_NONE)
			at = i;
	}
	if (at < 0) {
		it_count(IT_CNT_INFLIGHT_OVERFLOW);
		return;
	}
	at &= IT_INFLIGHT_SLOTS - 1;
	t->slot[at] = (struct it_inflight){ .ts_ns = bpf_ktime_get_ns(), .args = { a0, a1, a2, a3 } };
	t->probe[at] = probe;
}

/*
 * Exit half: takes the entry's state into *in and returns the latency, or 0 when
 * the entry was not seen (the call began before attach, or the map was full);
 * the caller then drops the event, counted in IT_CNT_EXIT_UNMATCHED.
 */
static __always_inline __u64 it_exit(__u16 probe, struct it_inflight *in)
{
	struct it_task_inflight *t = it_task_inflight(0);
	__u64 now = bpf_ktime_get_ns();

	if (t) {
		for (int i = 0; i < IT_INFLIGHT_SLOTS; i++) {
			if (t->probe[i] != probe)
				continue;
			*in = t->slot[i];
			t->probe[i] = IT_PROBE_NONE;
			return now > in->ts_ns ? now - in->ts_ns : 1;
		}
	}
	it_count(IT_CNT_EXIT_UNMATCHED);
	return 0;
}

/* The traced function's return value in an fexit program (any argument count). */
static __always_inline __u64 it_fexit_ret(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return ret;
}

/* The kernel's ERR_PTR() range. */
static __always_inline int it_is_err_ptr(__u64 p)
{
	return p >= (__u64)-4095;
}

/* What it_domain_group knows of a domain; NULL when it was never learned. */
static __always_inline struct it_domain_info *it_domain(__u64 domain)
{
	return bpf_map_lookup_elem(&it_domain_group, &domain);
}

static __always_inline __s32 it_domain_group_id(__u64 domain)
{
	struct it_domain_info *d = it_domain(domain);

	return d ? d->group_id : -1;
}

/* Teaches it_domain_group a domain's group and type (full: IT_CNT_DOMAIN_OVERFLOW). */
static __always_inline void it_domain_learn(__u64 domain, __s32 gid, __u32 type)
{
	struct it_domain_info d = { .group_id = gid, .type = type };

	if (bpf_map_update_elem(&it_domain_group, &domain, &d, BPF_ANY))
		it_count(IT_CNT_DOMAIN_OVERFLOW);
}

static __always_inline __s32 it_group_id(const struct iommu_group *group)
{
	return group ? BPF_CORE_READ(group, id) : -1;
}

/* dev_name(dev) into dst (IT_DEV_NAME_LEN bytes); empty when dev is NULL. */
static __always_inline void it_dev_name(char *dst, const struct device *dev)
{
	const char *name = NULL;

	dst[0] = 0;
	if (!dev)
		return;
	name = BPF_CORE_READ(dev, kobj.name);
	if (!name)
		name = BPF_CORE_READ(dev, init_name);
	if (name)
		bpf_probe_read_kernel_str(dst, IT_DEV_NAME_LEN, name);
}

/* dev->driver->name into dst (IT_DEV_NAME_LEN bytes); empty when unbound. */
static __always_inline void it_driver_name(char *dst, const struct device *dev)
{
	const char *name = NULL;

	dst[0] = 0;
	if (dev)
		name = BPF_CORE_READ(dev, driver, name);
	if (name)
		bpf_probe_read_kernel_str(dst, IT_DEV_NAME_LEN, name);
}

#endif
