import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { LabArch } from './arch';
import { ARM64_MACHINE } from './arm64';

/** QEMU's two x86 IOMMUs, Intel VT-d and AMD-Vi, and arm64's SMMUv3 (virt's `iommu=smmuv3`). */
export const IOMMU_VENDORS = ['intel', 'amd', 'smmuv3'] as const;
export type IommuVendor = (typeof IOMMU_VENDORS)[number];

/** The emulated IOMMUs of each guest arch; the first is the default. */
export const ARCH_VENDORS: Record<LabArch, readonly IommuVendor[]> = { x86_64: ['intel', 'amd'], arm64: ['smmuv3'] };

/**
 * Kernel arguments and QEMU device per vendor. Neither remaps interrupts (QEMU's
 * remapping needs a split irqchip TCG does not give here). Debian 6.1 answers
 * `amd_iommu=on` with "Unknown option": AMD-Vi is on by default where it is found.
 */
const IOMMU_SETUP: Record<IommuVendor, { args: string[]; device: string | null }> = {
  intel: { args: ['intel_iommu=on', 'iommu.passthrough=0'], device: 'intel-iommu,intremap=off' },
  amd: { args: ['iommu.passthrough=0'], device: 'amd-iommu,intremap=off' },
  // A machine option, not a device (ARM64_MACHINE).
  smmuv3: { args: ['iommu.passthrough=0'], device: null },
};

export interface BootSpec {
  bzImage: string;
  initramfs: string;
  /** Shared writable as 9p tag `out`; the guest mounts it at the same path. */
  outDir: string;
  iommu: boolean;
  /** Which emulated IOMMU, when iommu is on. */
  vendor: IommuVendor;
  interactive: boolean;
  memoryMiB: number;
  cpus: number;
  /** The guest's arch; default x86_64. */
  arch?: LabArch;
  /** What the 9p tag `host` shares read-only: the host root (default), or arm64's own root. */
  rootDir?: string;
  /** Appended to the kernel's command line. */
  kernelArgs?: string[];
  /** More read-only 9p shares (`bind0`, `bind1`, ...), mounted at their host path in the guest. */
  binds?: string[];
}

/** QEMU option values escape a comma by doubling it. */
const optq = (p: string): string => p.replace(/,/g, ',,');

function qemuArgs(b: BootSpec): string[] {
  const arm64 = b.arch === 'arm64';
  const append = [
    arm64 ? 'console=ttyAMA0' : 'console=ttyS0',
    // A panic reboots, and -no-reboot turns that into QEMU exiting: no hung run.
    'panic=1',
    // For kernels where these are built in; modules get them from the initramfs.
    'vfio_iommu_type1.allow_unsafe_interrupts=1',
    // The same for iommufd's device bind (the VFIO device cdev): the emulated IOMMUs remap no interrupts.
    'iommufd.allow_unsafe_interrupts=1',
    'brd.rd_nr=1',
    'brd.rd_size=16384',
    ...(b.iommu ? IOMMU_SETUP[b.vendor].args : []),
    // Kernel messages would scribble over a TUI on the same serial line.
    ...(b.interactive ? ['quiet', 'loglevel=1'] : []),
    ...(b.kernelArgs ?? []),
  ];
  const machine = arm64 ? ARM64_MACHINE(b.iommu) : ['-machine', 'q35,accel=tcg', '-cpu', 'max'];
  const device = b.iommu ? IOMMU_SETUP[b.vendor].device : null;
  return [
    ...machine,
    '-m', String(b.memoryMiB),
    '-smp', String(b.cpus),
    '-nographic',
    '-no-reboot',
    // QEMU 7.2 wants the IOMMU before the PCI devices it translates for.
    ...(device ? ['-device', device] : []),
    // The VFIO target: no option ROM (saves iPXE's boot time), a host-isolated backend (no "no peer" warning).
    '-nic', 'none',
    '-netdev', 'user,id=lab0,restrict=on',
    '-device', 'e1000e,addr=03.0,romfile=,netdev=lab0',
    '-virtfs', `local,path=${optq(b.rootDir ?? '/')},mount_tag=host,security_model=none,readonly=on,multidevs=remap`,
    '-virtfs', `local,path=${optq(b.outDir)},mount_tag=out,security_model=none,multidevs=remap`,
    ...(b.binds ?? []).flatMap((p, i) => ['-virtfs', `local,path=${optq(p)},mount_tag=bind${i},security_model=none,readonly=on,multidevs=remap`]),
    '-kernel', b.bzImage,
    '-initrd', b.initramfs,
    '-append', append.join(' '),
  ];
}

export interface BootResult {
  /** Everything the serial console printed (batch mode; empty when interactive). */
  log: string;
  timedOut: boolean;
  /** QEMU's own exit status (not the guest command's). */
  qemuStatus: number | null;
}

/**
 * Boots QEMU and waits for it to exit. Batch: the serial console goes to `logFile`
 * and `onLine`; interactive: it is the caller's terminal (QEMU puts it in raw mode;
 * Ctrl-A x quits).
 */
export function boot(
  b: BootSpec,
  opts: { logFile: string; timeoutMs?: number; onLine?: (line: string) => void },
): Promise<BootResult> {
  return new Promise((resolve, reject) => {
    const qemu = b.arch === 'arm64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64';
    const child = spawn(qemu, qemuArgs(b), {
      stdio: b.interactive ? 'inherit' : ['pipe', 'pipe', 'pipe'],
    });
    const log = b.interactive ? null : fs.createWriteStream(opts.logFile);
    const chunks: Buffer[] = [];
    let partial = '';
    const collect = (c: Buffer): void => {
      chunks.push(c);
      log?.write(c);
      if (!opts.onLine) return;
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) opts.onLine(l.replace(/\r$/, ''));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let timedOut = false;
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs)
        : null;
    // The guest owns the terminal while it runs: Ctrl-C is meant for it, not for us.
    const ignore = (): void => undefined;
    if (b.interactive) process.on('SIGINT', ignore);
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', ignore);
      reject(new Error(`cannot run ${qemu}: ${err.message} (install ${b.arch === 'arm64' ? 'qemu-system-arm' : 'qemu-system-x86'}: src/scripts/setup.sh)`));
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', ignore);
      const done = (): void => resolve({ log: Buffer.concat(chunks).toString(), timedOut, qemuStatus: code });
      if (log) log.end(done);
      else done();
    });
  });
}
