import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The architectures the package carries a BPF object and a prebuilt addon for, by
 * Node's names (process.arch). Everything else is built from source on the host.
 */
export const ARCHES = ['x64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

export function isArch(a: string): a is Arch {
  return (ARCHES as readonly string[]).includes(a);
}

/** This Node's architecture when the package has parts for it, else null. */
export function hostArch(arch: string = process.arch): Arch | null {
  return isArch(arch) ? arch : null;
}

/**
 * The BPF object for an architecture (build-bpf.sh writes one per arch from one
 * source: only the registers kprobes read differ), relative to the package root.
 * On an arch the package has no object for, a path that does not exist.
 */
export function bpfObjectFile(arch: string = process.arch): string {
  return path.join('build', 'bpf', arch, 'iommutrace.bpf.o');
}

/** Where `npm pack` puts the addon prebuilt for linux on an arch with glibc (prebuild.sh). */
export function prebuiltAddonFile(arch: Arch): string {
  return path.join('prebuilds', `linux-${arch}-glibc`, 'bpf_loader.node');
}

/** The addon cross-built for another arch in a clone (build-addon-cross.sh), before packing. */
export function crossAddonFile(arch: Arch): string {
  return path.join('build', `linux-${arch}`, 'bpf_loader.node');
}

/** ELF e_machine values of the arches above. */
const ELF_MACHINE: Record<number, Arch> = { 62: 'x64', 183: 'arm64' };

/**
 * The ELF e_machine of a file (62 x86-64, 183 AArch64, 247 BPF), or null when it is
 * not ELF. dlopen() of another arch's library fails with a misleading "No such file".
 */
export function elfMachine(file: string): number | null {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, head, 0, 20, 0) < 20) return null;
  } finally {
    fs.closeSync(fd);
  }
  return head.subarray(0, 4).toString('latin1') === '\x7fELF' ? head.readUInt16LE(18) : null;
}

/** Which of our arches an ELF library is built for; null when not ELF or none of ours. */
export function elfArch(file: string): Arch | null {
  const m = elfMachine(file);
  return m === null ? null : (ELF_MACHINE[m] ?? null);
}
