/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Log-linear latency buckets: below 8 one bucket per value, above it 8 linear
 * sub-buckets per power of two, so a bucket is at most 12.5% wide. User space
 * inverts it in src/aggregate/loglinear.ts (lower bound of bucket b, b >= 8:
 * (8 + b % 8) << (b / 8 - 1)).
 */
#ifndef IOMMUTRACE_HIST_H
#define IOMMUTRACE_HIST_H

#define IT_HIST_SUB_BITS 3
#define IT_HIST_SUB (1 << IT_HIST_SUB_BITS)

/* Index of the highest set bit; v must be non-zero. Branchy, loop-free for the verifier. */
static __always_inline __u32 it_log2_u64(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

static __always_inline __u16 it_hist_bucket(__u64 v)
{
	__u32 msb;

	if (v < IT_HIST_SUB)
		return v;
	msb = it_log2_u64(v);
	return (msb - IT_HIST_SUB_BITS + 1) * IT_HIST_SUB +
	       ((v >> (msb - IT_HIST_SUB_BITS)) & (IT_HIST_SUB - 1));
}

#endif
