import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { bpfObjectFile } from '../src/loader/arch';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BPF_OBJECT = path.join(ROOT, bpfObjectFile());
export const CLI = path.join(ROOT, 'dist', 'src', 'bin', 'iommutrace.js');
export const IN_CI = process.env.CI === 'true';

/**
 * A prerequisite the test cannot run without. Under CI a missing one is a failure
 * (never a silent skip); elsewhere the test is skipped and says why. Returns true
 * when the test may go on.
 */
export function need(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  if (IN_CI) throw new Error(`prerequisite missing under CI: ${why}`);
  t.skip(why);
  return false;
}

/** Whether `cmd args` runs and exits 0 here (a tool the test needs is installed). */
export function commandWorks(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Mounts tracefs where libbpf and our loader look for it (host tests need the syscalls tracepoints). */
export function tracefs(): string {
  const dir = '/sys/kernel/tracing';
  if (!fs.existsSync(path.join(dir, 'events'))) {
    execFileSync('mount', ['-t', 'tracefs', 'none', dir]);
  }
  return dir;
}

export function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
