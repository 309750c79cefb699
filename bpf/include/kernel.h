/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types the programs read, written by hand with
 * preserve_access_index: libbpf relocates every field access against the running
 * kernel's BTF, so only the fields we use are listed and their order here does
 * not matter. Never generated from the build machine's kernel.
 *
 * The fields below have the same names and meaning on 6.1, 6.12 and 6.18.
 * struct iova_bitmap lives in vfio.ko's BTF on 6.1-6.6 (libbpf searches module
 * BTF too); struct iopt_pages and struct pfn_reader_user only exist with
 * CONFIG_IOMMUFD. Programs that touch them are only loaded where their target
 * exists, so their relocations never fail on kernels without them.
 */
#ifndef IOMMUTRACE_KERNEL_H
#define IOMMUTRACE_KERNEL_H

/* This header stands in for vmlinux.h: bpf_tracing.h then names the kernel's
 * register fields (x86 di, si, ax; arm64 regs[n]), the ones below, not the
 * user-space ones. One source, one object per architecture (build-bpf.sh). */
#define __VMLINUX_H__

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* The registers kprobes see, for bpf_tracing.h's PT_REGS_PARMn and PT_REGS_RC. */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
/* arm64's pt_regs begins with user_pt_regs; bpf_tracing.h reads x0-x7 (arguments)
 * and x0 (return value) through it. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
struct pt_regs;
#else
#error "kernel.h knows the registers of x86 and arm64 only: build with -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64"
#endif

struct kobject {
	const char *name;
};

struct device_driver {
	const char *name;
};

struct list_head {
	struct list_head *next;
};

/* iommu.c's own types: in vmlinux BTF, not in any header. */
struct iommu_domain;
struct iommu_group {
	int id;
	struct list_head devices;	/* struct group_device, by .list */
	struct iommu_domain *domain;	/* the domain attached now */
};

struct device {
	struct kobject kobj;
	const char *init_name;		/* only until device_add() */
	struct device_driver *driver;
	struct iommu_group *iommu_group;
};

struct iommu_domain {
	unsigned int type;		/* IOMMU_DOMAIN_* */
};

struct iommu_iotlb_gather {
	unsigned long start;
	unsigned long end;
};

struct group_device {
	struct list_head list;
	struct device *dev;
};

struct iova_bitmap_map {
	unsigned long pgshift;
};

struct iova_bitmap {
	struct iova_bitmap_map mapped;
	unsigned long iova;
	unsigned long length;
};

struct iopt_pages {
	void *uptr;
};

/* iommufd's pin cursor: after a successful pin, [upages_start, upages_end) are pinned. */
struct pfn_reader_user {
	unsigned long upages_start;
	unsigned long upages_end;
};

/* What a map request is refused by: locked memory, its limit, CAP_IPC_LOCK. */
struct mm_struct {
	unsigned long locked_vm;	/* pages; VFIO type1 accounts its pins here */
};

struct rlimit {
	unsigned long rlim_cur;
};

struct signal_struct {
	struct rlimit rlim[16];
};

struct user_struct {
	struct { long counter; } locked_vm;	/* atomic_long_t, pages; iommufd accounts here */
};

/* kernel_cap_t is u32[2] up to 6.2 and one u64 since: the same 8 bytes on
 * little-endian x86-64 and arm64, read whole through the field's address (its members are never named). */
struct it_kernel_cap {
	__u64 bits;
};

struct cred {
	struct it_kernel_cap cap_effective;
	struct user_struct *user;
};

struct task_struct {
	struct mm_struct *mm;
	struct signal_struct *signal;
	const struct cred *cred;
};

/* vfio_iommu_type1.ko's container (module BTF). */
struct vfio_iommu {
	unsigned int dma_avail;
};

/* iommufd's ioctl context: cmd is the kernel's copy of the command. */
struct iommufd_ucmd {
	void *cmd;
};

/* Context layouts of the classic (perf) iommu:* tracepoints. */
struct trace_entry {
	unsigned short type;
};

struct trace_event_raw_map {
	struct trace_entry ent;
	__u64 iova;
	__u64 paddr;
	__u64 size;
};

struct trace_event_raw_unmap {
	struct trace_entry ent;
	__u64 iova;
	__u64 size;
	__u64 unmapped_size;
};

struct trace_event_raw_iommu_group_event {
	struct trace_entry ent;
	int gid;
	__u32 __data_loc_device;	/* offset (low 16 bits) of the name in the record */
};

struct trace_event_raw_iommu_device_event {
	struct trace_entry ent;
	__u32 __data_loc_device;
};

struct trace_event_raw_iommu_error {
	struct trace_entry ent;
	__u32 __data_loc_device;
	__u32 __data_loc_driver;
	__u64 iova;
	int flags;
};

/* printk:console: every line printk stores, without its level prefix. */
struct trace_event_raw_console {
	struct trace_entry ent;
	__u32 __data_loc_msg;
};

#pragma clang attribute pop

#endif
