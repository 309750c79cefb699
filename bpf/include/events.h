/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Event layouts shared by every BPF program and, through the object's BTF, by the
 * TypeScript decoder. This is the only place they are defined: user space reads the
 * struct layouts and enum values back from BTF, so add fields freely but keep the
 * names stable (they become JSON and protobuf field names).
 */
#ifndef IOMMUTRACE_EVENTS_H
#define IOMMUTRACE_EVENTS_H

#define IT_COMM_LEN 16
#define IT_DEV_NAME_LEN 32
#define IT_STACK_DEPTH 16

/* A kernel or user address (pointer, IOVA, return address). User space decodes
 * fields of this type as exact 64-bit values; other __u64 fields are counts,
 * sizes and times. */
typedef __u64 it_addr_t;
/* A kernel clock reading (bpf_ktime_get_ns): exact too, past 2^53 after 104 days up. */
typedef __u64 it_time_t;

/* Logical probes. The name maps to the CLI's: IT_PROBE_IOMMU_MAP is "iommu.map"
 * (lower case, the first underscore becomes a dot). Values are stable. */
enum it_probe {
	IT_PROBE_NONE = 0,
	IT_PROBE_IOMMU_ATTACH_DEVICE = 1,	/* iommu_attach_device */
	IT_PROBE_IOMMU_DETACH_DEVICE = 2,	/* iommu_detach_device */
	IT_PROBE_IOMMU_ATTACH_GROUP = 3,	/* iommu_attach_group */
	IT_PROBE_IOMMU_DETACH_GROUP = 4,	/* iommu_detach_group */
	IT_PROBE_IOMMU_REPLACE_GROUP = 5,	/* iommu_replace_group_handle / iommu_group_replace_domain */
	IT_PROBE_IOMMU_ATTACH_DEV = 6,		/* __iommu_attach_device: per-device truth */
	IT_PROBE_IOMMU_GROUP_GET = 7,		/* iommu_group_get */
	IT_PROBE_IOMMU_GROUP_REF_GET = 8,	/* iommu_group_ref_get */
	IT_PROBE_IOMMU_GROUP_PUT = 9,		/* iommu_group_put */
	IT_PROBE_IOMMU_MAP = 10,		/* iommu_map */
	IT_PROBE_IOMMU_UNMAP = 11,		/* __iommu_unmap: iommu_unmap and iommu_unmap_fast */
	IT_PROBE_IOMMU_MAP_SG = 12,		/* iommu_map_sg */
	IT_PROBE_GUP_FAST = 13,			/* gup_fast_fallback / internal_get_user_pages_fast */
	IT_PROBE_GUP_FAST_ONLY = 14,		/* gup_fast / lockless_pages_from_mm: the lockless part */
	IT_PROBE_GUP_PIN_FAST = 15,		/* pin_user_pages_fast */
	IT_PROBE_GUP_GET_FAST = 16,		/* get_user_pages_fast */
	IT_PROBE_GUP_PIN_REMOTE = 17,		/* pin_user_pages_remote */
	IT_PROBE_GUP_UNPIN = 18,		/* unpin_user_pages */
	IT_PROBE_GUP_UNPIN_PAGE = 19,		/* unpin_user_page */
	IT_PROBE_VFIO_PIN = 20,			/* vfio_pin_pages_remote */
	IT_PROBE_VFIO_UNPIN = 21,		/* vfio_unpin_pages_remote */
	IT_PROBE_IOMMUFD_PIN = 22,		/* iommufd_access_pin_pages */
	IT_PROBE_IOMMUFD_UNPIN = 23,		/* iommufd_access_unpin_pages */
	IT_PROBE_IOMMUFD_IOPT_PIN = 24,		/* iopt pin path (pfn_reader_user_pin) */
	IT_PROBE_DIRTY_WALK = 25,		/* iova_bitmap_for_each */
	IT_PROBE_DIRTY_ALLOC = 26,		/* iova_bitmap_alloc */
	IT_PROBE_DIRTY_FREE = 27,		/* iova_bitmap_free */
	IT_PROBE_IOMMU_TP_ATTACH = 28,		/* tracepoint iommu:attach_device_to_domain */
	IT_PROBE_IOMMU_TP_ADD = 29,		/* tracepoint iommu:add_device_to_group */
	IT_PROBE_IOMMU_TP_REMOVE = 30,		/* tracepoint iommu:remove_device_from_group */
	IT_PROBE_IOMMU_IO_PAGE_FAULT = 31,	/* tracepoint iommu:io_page_fault */
	IT_PROBE_SELFTEST_GETPPID = 32,		/* test and benchmark producer */
	IT_PROBE_SELFTEST_HIST = 33,		/* benchmark: a histogram per getppid(), nothing in the ring */
	IT_PROBE_GUP_SLOW = 34,			/* __gup_longterm_locked under gup.fast: the slow part */
	IT_PROBE_GUP_PIN = 35,			/* pin_user_pages: io_uring buffers up to 6.4 */
	IT_PROBE_IOMMU_ATTACH_HANDLE = 36,	/* iommu_attach_group_handle: iommufd, 6.11+ */
	IT_PROBE_IOMMU_DETACH_HANDLE = 37,	/* iommu_detach_group_handle: iommufd, 6.11+ */
	IT_PROBE_IOMMU_MAP_ATOMIC = 38,		/* iommu_map_atomic: the DMA API's maps up to 6.2 */
	IT_PROBE_IOMMU_MAP_SG_ATOMIC = 39,	/* iommu_map_sg_atomic: the DMA API's sg maps up to 6.2 */
	IT_PROBE_IOMMU_GROUP_SNAPSHOT = 40,	/* iommu_group_show_type: a group's domain and devices at start */
	IT_PROBE_IOMMUFD_IOPT_UNPIN = 41,	/* iopt unpin path (batch_unpin) */
	IT_PROBE_VFIO_MAP_DMA = 42,		/* VFIO_IOMMU_MAP_DMA (vfio_iommu_type1_ioctl): user-space map requests */
	IT_PROBE_IOMMUFD_IOAS_MAP = 43,		/* IOMMU_IOAS_MAP (iommufd_ioas_map): user-space map requests */
	IT_PROBE_IOMMU_IOTLB_SYNC = 44,		/* the IOMMU driver's iotlb_sync: ranges invalidated after unmaps */
	IT_PROBE_IOMMU_FLUSH_ALL = 45,		/* the IOMMU driver's flush_iotlb_all: whole-domain flushes (flush queue) */
	IT_PROBE_IOMMU_FAULT_LOG = 46,		/* printk:console: the IOMMU drivers' fault lines (VT-d never calls io_page_fault) */
	IT_PROBE_IOMMU_DOMAIN_FREE = 47,	/* iommu_domain_free: a domain's end (its in-kernel sums are final) */
	IT_PROBE_MAX,
};

/* What a ring-buffer record holds; selects the struct below. */
enum it_event_type {
	IT_EV_NONE = 0,
	IT_EV_ATTACH = 1,	/* struct it_ev_attach */
	IT_EV_GROUP_REF = 2,	/* struct it_ev_group_ref */
	IT_EV_DMA = 3,		/* struct it_ev_dma */
	IT_EV_GUP = 4,		/* struct it_ev_gup */
	IT_EV_PIN = 5,		/* struct it_ev_pin */
	IT_EV_DIRTY = 6,	/* struct it_ev_dirty */
	IT_EV_IOMMU_TP = 7,	/* struct it_ev_iommu_tp */
	IT_EV_SELFTEST = 8,	/* struct it_ev_selftest */
	IT_EV_MAP_REQUEST = 9,	/* struct it_ev_map_request */
	IT_EV_IOTLB = 10,	/* struct it_ev_iotlb */
	IT_EV_FAULT_LOG = 11,	/* struct it_ev_fault_log */
	IT_EV_MAX,
};

/*
 * Bits of hdr.type above the kind. Check mode (it_cfg_record_all 2) sends the calls
 * it sums in the kernel to the ring as well, marked SUMMED, so one run can compare
 * the two paths call for call (export --check-aggregation).
 */
enum it_event_flag {
	IT_EV_FLAG_SUMMED = 0x8000,
};

/* Every record starts with this header. */
struct it_event_hdr {
	__u64 ts_ns;		/* bpf_ktime_get_ns() at the event (exit for paired probes) */
	__u32 pid;		/* tgid */
	__u32 tid;
	__u16 type;		/* enum it_event_type */
	__u16 probe;		/* enum it_probe */
	__s32 ret;		/* return code, or -errno; 0 where the function returns void */
	char comm[IT_COMM_LEN];
};

/*
 * Attach, detach and replace, for groups and for single devices. The group
 * snapshot (what was attached before tracing began) uses it too: one record per
 * device of the group, ret 0, lat_ns 0, domain the group's current domain.
 */
struct it_ev_attach {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	it_addr_t domain;		/* struct iommu_domain * */
	it_addr_t group;		/* struct iommu_group * (0 when not known) */
	__u32 domain_type;	/* IOMMU_DOMAIN_* */
	__s32 group_id;		/* -1 when not known */
	char dev_name[IT_DEV_NAME_LEN];	/* dev_name(), e.g. "0000:00:03.0"; empty for group-wide calls */
	char driver[IT_DEV_NAME_LEN];	/* the device's driver at the time, e.g. "vfio-pci" */
};

/* A group reference taken (get, ref_get) or dropped (put). */
struct it_ev_group_ref {
	struct it_event_hdr hdr;
	it_addr_t group;		/* struct iommu_group *: the ledger's key */
	__s32 group_id;
	__u32 nr_frames;	/* valid entries in stack[] */
	char dev_name[IT_DEV_NAME_LEN];	/* iommu_group_get(dev) only */
	it_addr_t stack[IT_STACK_DEPTH];	/* kernel return addresses, innermost first */
};

/*
 * iommu_map / iommu_unmap / iommu_map_sg. For iommu_map_sg, size is what was
 * mapped (the scatterlist is not walked). The iommu:map tracepoint fires per
 * successful mapping, including the ones iommu_map_sg makes.
 */
struct it_ev_dma {
	struct it_event_hdr hdr;
	__u64 lat_ns;		/* 0 for the tracepoint variants */
	it_addr_t domain;		/* struct iommu_domain *, 0 for the tracepoint variants */
	it_addr_t iova;
	__u64 size;		/* bytes asked for */
	__u64 done;		/* bytes mapped or unmapped */
	__s32 group_id;		/* the domain's group, from attaches seen in the kernel; -1 when unknown */
	__u32 pad;
};

/* GUP entry points (fast and remote): one record per call; hdr.ret is the pages pinned or -errno. */
struct it_ev_gup {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	it_addr_t start;		/* user address */
	__u32 nr_pages;		/* pages asked for */
	__u32 gup_flags;	/* FOLL_* */
	/*
	 * gup.fast only. fast_seen is 1 when gup.fast_only or gup.slow saw this call's
	 * split; otherwise nothing went to the slow path as far as the kernel showed
	 * and fast_pages is the pages returned (exact when gup.fast_only or gup.slow
	 * is attached, an upper bound when neither is).
	 */
	__u32 fast_pages;	/* pages the lockless part pinned */
	__u32 fast_seen;
};

/*
 * VFIO, iommufd and unpin paths: pages per call. addr: the user address
 * (vfio.pin, iommufd.iopt_pin), the IOVA (vfio.unpin, iommufd.pin/unpin), 0 for
 * gup.unpin*.
 */
struct it_ev_pin {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	it_addr_t addr;		/* user address or IOVA */
	__u64 nr_pages;		/* pages asked for */
	__s64 pinned;		/* pages pinned or unpinned, or -errno */
};

/* Dirty-bitmap walks (iova_bitmap_for_each) and bitmap lifetime (alloc/free). */
struct it_ev_dirty {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	it_addr_t bitmap;		/* struct iova_bitmap * */
	it_addr_t iova;
	__u64 length;
	__u64 page_size;
	it_addr_t fn;		/* the walk's callback: tells VFIO device tracking from iommufd */
};

/* The iommu:* tracepoints. */
struct it_ev_iommu_tp {
	struct it_event_hdr hdr;
	it_addr_t iova;		/* io_page_fault */
	__s32 group_id;		/* add/remove_device_from_group */
	__u32 flags;		/* io_page_fault */
	char dev_name[IT_DEV_NAME_LEN];
	char driver[IT_DEV_NAME_LEN];	/* io_page_fault */
};

/*
 * A user-space DMA map request (VFIO type1 MAP_DMA, iommufd IOAS_MAP) and the
 * figures the kernel decides a refusal by, read in the caller's context: its
 * locked memory against RLIMIT_MEMLOCK, CAP_IPC_LOCK, and for VFIO the
 * container's entries against dma_entry_limit. Always in the ring when it
 * failed (hdr.ret = -errno); successes only in record mode.
 */
struct it_ev_map_request {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	__u64 size;		/* bytes asked for */
	/*
	 * Locked memory the limit is checked against, when the call began, in pages:
	 * VFIO type1 counts mm->locked_vm, iommufd the user's locked_vm.
	 */
	__u64 locked_pages;
	/* RLIMIT_MEMLOCK (rlim_cur) in pages, as the kernel compares it; 2^52 - 1 when unlimited */
	__u64 limit_pages;
	__u32 cap_ipc_lock;	/* 1: the caller had CAP_IPC_LOCK (the limit does not apply) */
	/* VFIO type1 only: the container's free entries after the call, and the
	 * module parameter (0 when it could not be read; then dma_avail is not known either). */
	__u32 dma_avail;
	__u32 dma_entry_limit;
	__u32 pad;
};

/*
 * IOTLB invalidation by the IOMMU driver: a range after unmaps (iotlb_sync, strict
 * mode and unmanaged domains) or the whole domain (flush_iotlb_all, which the
 * DMA API's flush queue calls in lazy mode). bytes: the range (end - start + 1),
 * 0 for a whole-domain flush or an empty range.
 */
struct it_ev_iotlb {
	struct it_event_hdr hdr;
	__u64 lat_ns;
	it_addr_t domain;		/* struct iommu_domain * */
	it_addr_t start;		/* first IOVA of the range */
	__u64 bytes;
	__s32 group_id;		/* the domain's group; -1 when unknown */
	__u32 pad;
};

/*
 * A kernel log line of an IOMMU driver's fault path, as printk stored it (no
 * level prefix): VT-d's "DMAR: [DMA Read NO_PASID] Request device [00:03.0]
 * fault addr 0x... [fault reason 0x06] ..." and its rate limiter's
 * "dmar_fault: N callbacks suppressed". User space parses the text
 * (src/aggregate/fault-lines.ts); every other line is left in the kernel.
 */
#define IT_FAULT_TEXT_LEN 256
struct it_ev_fault_log {
	struct it_event_hdr hdr;
	__u32 len;		/* the line's length (it may be longer than text) */
	__u32 pad;
	char text[IT_FAULT_TEXT_LEN];
};

/* Test and benchmark producer. */
struct it_ev_selftest {
	struct it_event_hdr hdr;
	__u64 seq;
};

/*
 * Key of the in-kernel latency histograms (see hist.h). They hold the calls that
 * were aggregated in the kernel (it_agg), not the ones sent to the ring, so user
 * space adds both without counting a call twice. One key holds the 8 buckets of
 * a power of two (struct it_hist_val): 8 times fewer keys to preallocate (a
 * tenth of a start-up) and to insert when a new domain appears.
 */
struct it_hist_key {
	__u16 probe;		/* enum it_probe */
	__u16 bucket;		/* first log-linear bucket of the 8 (a multiple of 8), see it_hist_bucket() */
	__s32 group_id;		/* attribution; -1 when unknown */
	it_addr_t domain;	/* struct iommu_domain * of DMA calls (its device), 0 for others */
};

/* Calls per bucket: count[i] is bucket key.bucket + i. */
struct it_hist_val {
	__u64 count[8];		/* IT_HIST_SUB buckets */
};

/*
 * In-kernel aggregation (top and export): calls that need no single record are
 * summed here per key instead of going to the ring. Read by
 * src/source/kernel-aggregates.ts, which turns deltas into what the ring's events
 * would have told the aggregator.
 */
struct it_agg_key {
	__u16 probe;		/* enum it_probe */
	__u8 size_class;	/* 0 when nothing moved, else 1 + log2(amount of one call) */
	__u8 pad;
	__s32 group_id;		/* DMA: the domain's group, -1 when unknown */
	__u32 tgid;		/* the caller; 0 for DMA into a kernel driver's DMA-API domain */
	__u32 pad2;
	it_addr_t domain;	/* DMA: struct iommu_domain *; 0 for others */
};

/* Per CPU; user space sums the CPUs (first_ns: the smallest, last_ns and lat_max: the largest). */
struct it_agg_val {
	__u64 calls;
	__u64 amount;		/* bytes done (DMA), pages pinned or unpinned (GUP, pins) */
	__u64 asked;		/* bytes (DMA) or pages (GUP) asked for */
	__u64 fast;		/* gup.fast: pages the lockless part pinned */
	__u64 partial;		/* GUP calls that pinned fewer pages than asked */
	__u64 lat_sum;		/* ns, over the calls with a latency */
	__u64 lat_max;
	it_time_t first_ns;	/* bpf_ktime_get_ns() of this CPU's first and last call */
	it_time_t last_ns;
	__u32 tid;		/* the thread of this CPU's first call, with its comm */
	__u32 pad;
	char comm[IT_COMM_LEN];
};

/* Per-CPU counters, indexed by enum it_counter. */
enum it_counter {
	IT_CNT_RINGBUF_LOST = 0,	/* bpf_ringbuf_reserve failed: events lost */
	IT_CNT_HIST_OVERFLOW = 1,	/* the histogram map was full */
	IT_CNT_INFLIGHT_OVERFLOW = 2,	/* no in-flight slot for an entry (the thread has 4 calls in flight, or no storage) */
	IT_CNT_DOMAIN_OVERFLOW = 3,	/* the domain-to-group map was full */
	IT_CNT_EXIT_UNMATCHED = 4,	/* an exit program found no entry state: the call is not counted */
	IT_CNT_AGG_OVERFLOW = 5,	/* it_agg was full: the call went to the ring instead (not lost) */
	IT_CNT_MAX,
};

#endif
