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

static __always_inline void it_probe_hit(__u16 probe, int failed)
{
	__u32 key = probe;
	struct it_probe_stats *s = bpf_map_lookup_elem(&it_probe_stats, &key);

	if (!s)
		return;
	s->calls += 1;
	if (failed)
		s->errors += 1;
}

static __always_inline void it_hist_add(__u16 probe, __s32 group_id, __u64 lat_ns)
{
	struct it_hist_key key = { .probe = probe, .bucket = it_hist_bucket(lat_ns), .group_id = group_id };
	__u64 one = 1, *v = bpf_map_lookup_elem(&it_hist, &key);

	if (v) {
		*v += 1;
		return;
	}
	if (bpf_map_update_elem(&it_hist, &key, &one, BPF_NOEXIST) && !bpf_map_lookup_elem(&it_hist, &key))
		it_count(IT_CNT_HIST_OVERFLOW);
}

/*
 * Reserves a record of `size` bytes and fills its header; NULL (and the loss
 * counted) when the ring is full. Callers submit with bpf_ringbuf_submit().
 */
static __always_inline void *it_reserve(__u64 size, __u16 type, __u16 probe, __s32 ret)
{
	struct it_event_hdr *h = bpf_ringbuf_reserve(&it_events, size, 0);
	__u64 id;

	if (!h) {
		it_count(IT_CNT_RINGBUF_LOST);
		return NULL;
	}
	id = bpf_get_current_pid_tgid();
	h->ts_ns = bpf_ktime_get_ns();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->type = type;
	h->probe = probe;
	h->ret = ret;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	return h;
}

#endif
