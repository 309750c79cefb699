/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps shared by every program of the object. Declared __weak so each
 * each bpf/NAME.bpf.c can include this header and the static linker keeps one copy.
 * All maps are bounded; a full map is counted in it_counters, never silent.
 */
#ifndef IOMMUTRACE_MAPS_H
#define IOMMUTRACE_MAPS_H

#include "events.h"

/* Single events: references, attaches, errors, and everything in record mode. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} it_events SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} it_counters SEC(".maps") __weak;

/*
 * The two per-CPU tables hold a value per possible CPU for every key: allocated as keys
 * come (BPF_F_NO_PREALLOC) rather than all at load, and user space lowers max_entries
 * on hosts with many CPUs (src/probes/kernel-memory.ts), so a 256-CPU host pins a few
 * MB, not 130. A key's first call pays the allocation; its others only the lookup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2048);
	__type(key, struct it_hist_key);
	__type(value, struct it_hist_val);
} it_hist SEC(".maps") __weak;

/*
 * Calls summed in the kernel when not every event is recorded (see struct
 * it_agg_key). Full: IT_CNT_AGG_OVERFLOW, and the call goes to the ring.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct it_agg_key);
	__type(value, struct it_agg_val);
} it_agg SEC(".maps") __weak;

/*
 * Entry state of paired probes (entry program -> exit program), kept with the
 * thread (task-local storage): no hashing and no bucket lock per call, which a
 * hash keyed by thread and probe cost (the largest step of the per-call cost in
 * the lab bench). A few slots, one per probe in flight on the thread: calls nest
 * (VFIO's pin calls GUP; an interrupt's DMA map lands inside either). All taken,
 * or no storage: IT_CNT_INFLIGHT_OVERFLOW. Freed with the thread.
 */
struct it_inflight {
	__u64 ts_ns;
	__u64 args[4];		/* what the exit needs; kretprobes cannot read arguments */
	__u32 fast_pages;	/* gup.fast: filled in by gup.fast_only / gup.slow */
	__u32 fast_seen;
};

#define IT_INFLIGHT_SLOTS 4

struct it_task_inflight {
	__u16 probe[IT_INFLIGHT_SLOTS];	/* each slot's probe; IT_PROBE_NONE when free */
	struct it_inflight slot[IT_INFLIGHT_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct it_task_inflight);
} it_inflight SEC(".maps") __weak;

/*
 * struct iommu_domain * -> iommu group id and domain type, learned from successful
 * attaches (and the snapshot) and forgotten on detach, to attribute DMA map/unmap
 * to groups. Full: IT_CNT_DOMAIN_OVERFLOW (the domain's DMA then counts under group -1).
 */
struct it_domain_info {
	__s32 group_id;
	__u32 type;		/* IOMMU_DOMAIN_*, read once when learned rather than on every DMA call */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct it_domain_info);
} it_domain_group SEC(".maps") __weak;

/*
 * Domains freed (struct iommu_domain * -> when), until user space has read their
 * sums a last time and deleted their keys in it_agg and it_hist, and then this entry.
 * LRU: where nobody reads it (record mode) the oldest go.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, it_time_t);
} it_freed SEC(".maps") __weak;

/*
 * Processes that asked for user-space DMA maps (VFIO MAP_DMA, iommufd IOAS_MAP),
 * by tgid, with the asking thread as the event would name it. User space reads
 * these apart from the ring and looks the process up in /proc at once: a VMM
 * whose events wait behind a backlog may be gone, its VM's name with it, by the
 * time they are decoded. Deleted once read; LRU, so where nobody reads the oldest go.
 */
struct it_requester {
	__u32 tid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct it_requester);
} it_requesters SEC(".maps") __weak;

/*
 * Never read or written: its value type pulls every event layout and enum into the
 * object's BTF, where src/events/layout.ts reads them back.
 */
struct it_layouts {
	struct it_event_hdr hdr;
	struct it_ev_attach attach;
	struct it_ev_group_ref group_ref;
	struct it_ev_dma dma;
	struct it_ev_gup gup;
	struct it_ev_pin pin;
	struct it_ev_dirty dirty;
	struct it_ev_iommu_tp iommu_tp;
	struct it_ev_selftest selftest;
	struct it_ev_map_request map_request;
	struct it_ev_iotlb iotlb;
	struct it_ev_fault_log fault_log;
	struct it_hist_key hist_key;
	struct it_agg_key agg_key;
	struct it_agg_val agg_val;
	enum it_probe probe;
	enum it_event_type type;
	enum it_counter counter;
	enum it_event_flag flag;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct it_layouts);
} it_layouts SEC(".maps") __weak;

#endif
