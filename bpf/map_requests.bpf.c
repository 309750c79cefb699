// SPDX-License-Identifier: GPL-2.0
/*
 * User-space DMA map requests and why the kernel refused them: VFIO type1's
 * MAP_DMA and iommufd's IOAS_MAP, with the figures each refusal is decided by,
 * read in the caller's context (see struct it_ev_map_request).
 *
 * VFIO: vfio_dma_do_map() is inlined into vfio_iommu_type1_ioctl() on Debian 6.1
 * and 6.12, so the ioctl handler is probed (it is the driver's ops callback,
 * never inlined) and everything but VFIO_IOMMU_MAP_DMA is passed over. The
 * kernel refuses with -ENOSPC when the container's dma_avail (dma_entry_limit
 * when the container was opened, minus its mappings) is 0, -EEXIST on overlap,
 * -ENOMEM from vfio_pin_pages_remote() when mm->locked_vm would pass
 * RLIMIT_MEMLOCK without CAP_IPC_LOCK. A failed map unwinds its accounting,
 * so locked_vm at entry is what the process held.
 */
#include "common.h"

#define IT_PAGE_SHIFT 12
#define IT_RLIMIT_MEMLOCK 8
#define IT_CAP_IPC_LOCK 14
/* _IO(VFIO_TYPE, VFIO_BASE + 13), include/uapi/linux/vfio.h */
#define IT_VFIO_IOMMU_MAP_DMA 0x3b71

/* include/uapi/linux/vfio.h */
struct it_vfio_dma_map {
	__u32 argsz;
	__u32 flags;
	__u64 vaddr;
	__u64 iova;
	__u64 size;
};

/* include/uapi/linux/iommufd.h */
struct it_iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 reserved;
	__u64 user_va;
	__u64 length;
	__u64 iova;
};

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* The event for a finished request; in.args: [1] the container (VFIO), [2] size, [3] locked pages at entry. */
static __always_inline void map_request_exit(__u16 probe, struct it_inflight *in, __u64 lat, __s64 ret)
{
	struct task_struct *task = current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	struct it_ev_map_request *e;
	struct vfio_iommu *iommu;
	__u64 caps = 0;
	__u32 limit = 0;
	int err = ret < 0 ? (int)ret : 0;
	struct it_agg_add a = { .amount = in->args[2], .lat = lat, .calls = 1, .now = in->ts_ns + lat };
	int summed;

	it_note_requester();
	/* Successes are summed in aggregated mode; a refusal always comes whole, with its figures. */
	summed = !it_want_record(err < 0) && it_agg_call(probe, -1, 0, it_tgid(), &a);
	if (it_summed_only(summed))
		return;
	e = it_reserve_at(sizeof(*e), it_type(IT_EV_MAP_REQUEST, summed), probe, err, in->ts_ns + lat);
	if (!e)
		return;
	e->lat_ns = lat;
	e->size = in->args[2];
	e->locked_pages = in->args[3];
	e->limit_pages = BPF_CORE_READ(task, signal, rlim[IT_RLIMIT_MEMLOCK].rlim_cur) >> IT_PAGE_SHIFT;
	bpf_probe_read_kernel(&caps, sizeof(caps), __builtin_preserve_access_index(&cred->cap_effective));
	e->cap_ipc_lock = (caps >> IT_CAP_IPC_LOCK) & 1;
	e->dma_avail = 0;
	e->dma_entry_limit = 0;
	iommu = (void *)in->args[1];
	if (probe == IT_PROBE_VFIO_MAP_DMA && it_cfg_dma_entry_limit_addr &&
	    !bpf_probe_read_kernel(&limit, sizeof(limit), (void *)it_cfg_dma_entry_limit_addr)) {
		e->dma_entry_limit = limit;
		e->dma_avail = BPF_CORE_READ(iommu, dma_avail);
	}
	e->pad = 0;
	it_submit(e);
}

/* long vfio_iommu_type1_ioctl(void *iommu_data, unsigned int cmd, unsigned long arg) */
static __always_inline void vfio_ioctl_enter(void *iommu, unsigned int cmd, unsigned long arg)
{
	struct it_vfio_dma_map map = {};

	if (cmd != IT_VFIO_IOMMU_MAP_DMA) {
		/* Entered anyway, so the kretprobe, which cannot see cmd, finds its entry. */
		it_enter(IT_PROBE_VFIO_MAP_DMA, cmd, 0, 0, 0);
		return;
	}
	bpf_probe_read_user(&map, sizeof(map), (void *)arg);
	it_enter(IT_PROBE_VFIO_MAP_DMA, cmd, (__u64)iommu, map.size, BPF_CORE_READ(current_task(), mm, locked_vm));
}

static __always_inline void vfio_ioctl_exit(__s64 ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_VFIO_MAP_DMA, &in);

	if (lat && in.args[0] == IT_VFIO_IOMMU_MAP_DMA)
		map_request_exit(IT_PROBE_VFIO_MAP_DMA, &in, lat, ret);
}

IT_PAIRED(vfio_map_dma, long, vfio_ioctl_enter(iommu, cmd, arg), vfio_ioctl_exit(ret),
	  void *iommu, unsigned int cmd, unsigned long arg)

/*
 * int iommufd_ioas_map(struct iommufd_ucmd *ucmd): 0 or -errno. iommufd counts
 * pins against the user's locked_vm (its default accounting; CAP_IPC_LOCK skips it).
 */
static __always_inline void ioas_map_enter(struct iommufd_ucmd *ucmd)
{
	struct it_iommu_ioas_map cmd = {};
	void *p = BPF_CORE_READ(ucmd, cmd);

	bpf_probe_read_kernel(&cmd, sizeof(cmd), p);
	it_enter(IT_PROBE_IOMMUFD_IOAS_MAP, 0, 0, cmd.length, BPF_CORE_READ(current_task(), cred, user, locked_vm.counter));
}

static __always_inline void ioas_map_exit(int ret)
{
	struct it_inflight in;
	__u64 lat = it_exit(IT_PROBE_IOMMUFD_IOAS_MAP, &in);

	if (lat)
		map_request_exit(IT_PROBE_IOMMUFD_IOAS_MAP, &in, lat, ret);
}

IT_PAIRED(iommufd_ioas_map, int, ioas_map_enter(ucmd), ioas_map_exit(ret), struct iommufd_ucmd *ucmd)

char LICENSE[] SEC("license") = "GPL";
