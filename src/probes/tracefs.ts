import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const TRACEFS_PATHS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export interface TracefsState {
  path?: string;
  /** True when we mounted it ourselves just now. */
  mountedByUs: boolean;
  /** Why it is not there, when it is not. */
  error?: string;
}

function mounted(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'events'));
}

/**
 * Finds tracefs, mounting it at /sys/kernel/tracing when it is missing and we may
 * (libbpf 1.1 only looks there and under debugfs).
 */
export function ensureTracefs(mount = true): TracefsState {
  for (const dir of TRACEFS_PATHS) if (mounted(dir)) return { path: dir, mountedByUs: false };
  const dir = TRACEFS_PATHS[0];
  if (!mount) return { mountedByUs: false, error: 'tracefs is not mounted' };
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', dir], { stdio: 'pipe' });
  } catch (err) {
    // mount(8) adds a second line pointing at dmesg; the first says it all.
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n')[0].trim();
    return { mountedByUs: false, error: `tracefs is not mounted and mounting it failed: ${stderr || (err as Error).message}` };
  }
  return mounted(dir) ? { path: dir, mountedByUs: true } : { mountedByUs: false, error: 'tracefs mount did not appear' };
}
