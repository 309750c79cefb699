// SPDX-License-Identifier: GPL-2.0
/*
 * A producer the tests and benchmarks drive from user space: every getppid() of
 * the target process emits it_cfg_selftest_burst records. Off unless a test or
 * benchmark enables it.
 */
#include "common.h"

__u64 it_selftest_seq __weak = 0;

/* ctx: the records' type (IT_EV_SELFTEST, marked in check mode when summed). */
static long selftest_emit(__u32 index, void *ctx)
{
	struct it_ev_selftest *e = it_reserve(sizeof(*e), *(__u16 *)ctx, IT_PROBE_SELFTEST_GETPPID, 0);

	if (e) {
		e->seq = __sync_fetch_and_add(&it_selftest_seq, 1);
		it_submit(e);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int selftest_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u16 type = IT_EV_SELFTEST;
	int summed = 0;

	if (it_cfg_target_tgid && tgid != it_cfg_target_tgid)
		return 0;
	/* As a map request does: the tests of reading a process early have no VFIO. */
	it_note_requester();
	if (!it_want_record(0)) {
		struct it_agg_add a = { .calls = it_cfg_selftest_burst };

		summed = it_agg_call(IT_PROBE_SELFTEST_GETPPID, -1, 0, tgid, &a);
	}
	if (it_summed_only(summed))
		return 0;
	type = it_type(type, summed);
	/* bpf_loop: the verifier checks the body once, whatever the burst. */
	bpf_loop(it_cfg_selftest_burst, selftest_emit, &type, 0);
	return 0;
}

/*
 * The per-event cost benchmark: one histogram update per getppid() of the target,
 * the work `bpftrace -e 'tracepoint:syscalls:sys_enter_getppid /pid == N/ { @ = hist(nsecs & 0xffff) }'` does.
 */
SEC("tracepoint/syscalls/sys_enter_getppid")
int selftest_hist(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != it_cfg_target_tgid)
		return 0;
	it_hist_add(IT_PROBE_SELFTEST_HIST, -1, 0, bpf_ktime_get_ns() & 0xffff);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
