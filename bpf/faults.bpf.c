// SPDX-License-Identifier: GPL-2.0
/*
 * IO page faults that no tracepoint carries. Intel VT-d handles a fault in
 * dmar_fault() -> dmar_fault_do_one() (inlined on Debian's kernels) and only
 * prints it; it never calls report_iommu_fault(), so iommu:io_page_fault stays
 * silent there. The printed line holds everything (requester id, address,
 * read or write, reason), so this program watches printk:console, which fires
 * for every line printk stores, whatever the console level, and keeps only
 * the driver's fault lines and its rate limiter's "callbacks suppressed" line.
 * Any other line costs a 16-byte read and a compare.
 */
#include "common.h"

#define PREFIX_LEN 16

/* The lines kept, by their first bytes: a fault record, and its reports the limiter dropped. */
static const char dmar_fault_line[] = "DMAR: [";
static const char dmar_suppressed[] = "dmar_fault: ";

static __always_inline int starts(const char *buf, const char *prefix, int n)
{
	for (int i = 0; i < n; i++)
		if (buf[i] != prefix[i])
			return 0;
	return 1;
}

static __always_inline void fault_line(const char *text, __u64 len)
{
	char head[PREFIX_LEN] = {};
	struct it_ev_fault_log *e;

	if (len < sizeof(dmar_fault_line) - 1)
		return;
	if (bpf_probe_read_kernel(head, sizeof(head), text))
		return;
	if (!starts(head, dmar_fault_line, sizeof(dmar_fault_line) - 1) &&
	    !starts(head, dmar_suppressed, sizeof(dmar_suppressed) - 1))
		return;
	e = it_reserve(sizeof(*e), IT_EV_FAULT_LOG, IT_PROBE_IOMMU_FAULT_LOG, 0);
	if (!e)
		return;
	e->len = len;
	e->pad = 0;
	/* A power of two: the mask bounds the read for the verifier. */
	if (len > IT_FAULT_TEXT_LEN - 1)
		len = IT_FAULT_TEXT_LEN - 1;
	/* The text is not NUL-terminated where printk hands it over: read len bytes. */
	if (bpf_probe_read_kernel(e->text, len & (IT_FAULT_TEXT_LEN - 1), text))
		len = 0;
	e->text[len & (IT_FAULT_TEXT_LEN - 1)] = 0;
	it_submit(e);
}

/* console(text, len) */
SEC("tp_btf/console")
int BPF_PROG(iommu_fault_log_tp_btf, const char *text, __u64 len)
{
	fault_line(text, len);
	return 0;
}

SEC("raw_tp/console")
int BPF_PROG(iommu_fault_log_raw_tp, const char *text, __u64 len)
{
	fault_line(text, len);
	return 0;
}

/* The classic record copies the line (NUL-terminated) into a __data_loc string. */
SEC("tracepoint/printk/console")
int iommu_fault_log_tp(struct trace_event_raw_console *ctx)
{
	__u32 loc = ctx->__data_loc_msg;

	/* Its length (high 16 bits) counts the NUL. */
	fault_line((const char *)((long)ctx + (loc & 0xffff)), loc >> 16 ? (loc >> 16) - 1 : 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
