/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Load-time settings, written by user space into .rodata before load (so the
 * verifier prunes what is off). __weak: one copy across the linked parts.
 */
#ifndef IOMMUTRACE_CONFIG_H
#define IOMMUTRACE_CONFIG_H

/* 1: send every event to the ring buffer (record mode, the default); 0: only the
 * ones that need single events (references, attaches, errors) go there, the
 * rest are summed in it_agg and it_hist (top and export); 2: check mode, both
 * (the summed ones also go to the ring, marked IT_EV_FLAG_SUMMED). */
const volatile __u8 it_cfg_record_all __weak = 1;
/* When non-zero, only this process is traced (tests and benchmarks). */
const volatile __u32 it_cfg_target_tgid __weak = 0;
/* Records the selftest producer emits per triggering syscall (benchmarks). */
const volatile __u32 it_cfg_selftest_burst __weak = 1;
/*
 * Address of vfio_iommu_type1's dma_entry_limit parameter (a data symbol in
 * kallsyms), 0 when unknown. User space finds it only when the probe that reads
 * it runs: a typeless __ksym would make libbpf scan all of /proc/kallsyms at
 * every load, a third of a start-up.
 */
const volatile __u64 it_cfg_dma_entry_limit_addr __weak = 0;
/* Ring bytes waiting before a record wakes the reader; 0: every record wakes it.
 * Set only by readers that also drain the ring on a timer (src/source/live.ts). */
const volatile __u32 it_cfg_wake_bytes __weak = 0;

#endif
