import * as path from 'node:path';
import { labAssets } from './paths';
import { run, type RunOptions } from './proc';

/** The guest architectures of the lab, as `uname -m` says them (arm64's is aarch64). */
export const LAB_ARCHES = ['x86_64', 'arm64'] as const;
export type LabArch = (typeof LAB_ARCHES)[number];

export function isLabArch(s: string): s is LabArch {
  return (LAB_ARCHES as readonly string[]).includes(s);
}

/** The kernels booted on arm64: Debian's own (the iommufd build is x86 only). */
export const ARM64_KERNEL_NAMES = ['debian-6.1', 'debian-6.12'] as const;

/** Debian's name for the arch in kernel packages (linux-image-<abi>-<flavour>). */
export function debianFlavour(arch: LabArch): 'amd64' | 'arm64' {
  return arch === 'x86_64' ? 'amd64' : 'arm64';
}

/** Node's name for the arch (process.arch), which names the BPF object and the addon. */
export function nodeArch(arch: LabArch): 'x64' | 'arm64' {
  return arch === 'x86_64' ? 'x64' : 'arm64';
}

/** apt-get or apt-cache on the host's index, or on the arm64 one (src/scripts/apt-arm64.sh: a private APT_CONFIG). */
export function apt(arch: LabArch, cmd: 'apt-get' | 'apt-cache', args: string[], opts: RunOptions = {}): Promise<string> {
  if (arch === 'x86_64') return run(cmd, args, opts);
  return run('bash', [path.join(labAssets(), '..', 'scripts', 'apt-arm64.sh'), cmd, ...args], opts);
}
