import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { KernelName } from '../../src/lab';
import type { LabArch } from '../../src/lab/arch';
import { prepareLab, type PrepareOutcome } from '../../src/lab/prepare';

/**
 * The arm64 boots `npm test` makes: one kernel (fentry), the cheapest boot that proves
 * the arch (its root is built once and cached). IOMMUTRACE_LAB_ARM64=all adds Debian
 * 6.1 (kprobes); `iommutrace lab --arch arm64 --kernel NAME` runs any by hand.
 */
export const ARM64_TEST_KERNELS: KernelName[] = process.env.IOMMUTRACE_LAB_ARM64 === 'all' ? ['debian-6.12', 'debian-6.1'] : ['debian-6.12'];

/**
 * Why the lab cannot run here, or null. Under CI=true the tests treat a reason as a
 * failure (the lab is part of what CI proves); elsewhere they skip and print it.
 */
export function missingPrerequisite(kernel?: KernelName, arch: LabArch = 'x86_64'): string | null {
  if (process.getuid?.() !== 0) return 'the lab needs root';
  const tools = ['qemu-system-x86_64', 'busybox', 'depmod', 'cpio', 'apt-get', 'dpkg', 'gcc', 'make'];
  // arm64: its emulator, the cross compiler (workloads, leak module) and npm (Node for arm64).
  if (arch === 'arm64') tools.push('qemu-system-aarch64', 'aarch64-linux-gnu-gcc', 'npm');
  for (const t of tools) {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      return `${t} is not installed (run src/scripts/setup.sh)`;
    }
  }
  if (kernel === 'iommufd-6.12' && !fs.existsSync('/usr/src/linux-source-6.12.tar.xz')) {
    return 'linux-source-6.12 is not installed (run src/scripts/setup.sh)';
  }
  return null;
}

/** node:test options: skip with the reason outside CI, run (and fail) under CI. */
export function labTestOptions(kernel: KernelName | undefined, timeoutMin: number, arch: LabArch = 'x86_64'): { skip: string | false; timeout: number } {
  const reason = missingPrerequisite(kernel, arch);
  return { skip: reason && process.env.CI !== 'true' ? reason : false, timeout: timeoutMin * 60_000 };
}

/** Kernels whose preparation failed (by arch/kernel), with the one-line cause and the step's output. */
const failed = new Map<string, string>();
const failKey = (kernel: KernelName, arch: LabArch = 'x86_64'): string => `${arch}/${kernel}`;

/**
 * For a `before()` hook (hooks have no timeout): makes sure the kernels are ready, so
 * the tests' own timeouts only ever cover booting and measuring. Under `npm test` the
 * preparation stage has already run (src/scripts/test.sh): its outcomes are taken as
 * they are, and a kernel that failed there fails its tests at once rather than being
 * built again. Run alone, the files prepare here (cached after the first time).
 */
export async function prepareKernels(kernels: KernelName[], arch: LabArch = 'x86_64'): Promise<void> {
  const wanted = kernels.filter((k) => !missingPrerequisite(k, arch));
  const statusFile = process.env.IOMMUTRACE_LAB_PREPARE_STATUS;
  let stage: PrepareOutcome[] = [];
  if (statusFile && fs.existsSync(statusFile)) stage = JSON.parse(fs.readFileSync(statusFile, 'utf8')) as PrepareOutcome[];
  for (const o of stage) {
    if (!o.ok && (o.arch ?? 'x86_64') === arch && wanted.includes(o.kernel)) failed.set(failKey(o.kernel, arch), `${o.error} (in the preparation stage)`);
  }
  const todo = wanted.filter((k) => !failed.has(failKey(k, arch)));
  for (const o of await prepareLab(todo, (m) => process.stderr.write(`# ${m}\n`), arch)) {
    if (!o.ok) failed.set(failKey(o.kernel, arch), o.error ?? 'unknown failure');
  }
}

/** Throws the reason under CI (the test then fails instead of skipping), or the kernel's preparation failure. */
export function requirePrerequisites(kernel?: KernelName, arch: LabArch = 'x86_64'): void {
  const reason = missingPrerequisite(kernel, arch);
  if (reason) throw new Error(`lab prerequisite missing: ${reason}`);
  const failure = kernel && failed.get(failKey(kernel, arch));
  if (failure) throw new Error(`lab preparation failed: ${failure}`);
}
