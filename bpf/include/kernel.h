/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types the programs read, written by hand with
 * preserve_access_index: libbpf relocates every field access against the running
 * kernel's BTF, so only the fields we use are listed and their order here does
 * not matter. Never generated from the build machine's kernel.
 */
#ifndef IOMMUTRACE_KERNEL_H
#define IOMMUTRACE_KERNEL_H

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

/* x86-64 registers, for kprobes (bpf_tracing.h's PT_REGS_PARMn). */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

#pragma clang attribute pop

#endif
