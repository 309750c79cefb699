import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { KernelName } from '../../src/lab';

/**
 * Why the lab cannot run here, or null. Under CI=true the tests treat a reason as a
 * failure (the lab is part of what CI proves); elsewhere they skip and print it.
 */
export function missingPrerequisite(kernel?: KernelName): string | null {
  if (process.getuid?.() !== 0) return 'the lab needs root';
  const tools = ['qemu-system-x86_64', 'busybox', 'depmod', 'cpio', 'apt-get', 'dpkg', 'gcc', 'make'];
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
export function labTestOptions(kernel: KernelName | undefined, timeoutMin: number): { skip: string | false; timeout: number } {
  const reason = missingPrerequisite(kernel);
  return { skip: reason && process.env.CI !== 'true' ? reason : false, timeout: timeoutMin * 60_000 };
}

/** Throws the reason under CI (the test then fails instead of skipping). */
export function requirePrerequisites(kernel?: KernelName): void {
  const reason = missingPrerequisite(kernel);
  if (reason) throw new Error(`lab prerequisite missing: ${reason}`);
}
