import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupPath, splitCmdline, vmName } from './vmm';

/** What the recording host knew of a process: kept in the capture, so reports elsewhere name it alike. */
export interface ProcessFacts {
  pid: number;
  vm: string | null;
  cgroup: string | null;
}

/** Processes whose facts are kept; the rest are counted (see ProcessFactsCache.overflow). */
export const MAX_PROCESS_FACTS = 4096;

/** Longest name or path kept: a hostile or odd command line cannot bloat the capture. */
export const MAX_FACT_CHARS = 4096;

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null; // gone already, or not ours to read
  }
}

/**
 * Reads /proc/PID/{cmdline,cgroup} (under `procRoot`). Only the VM name and the
 * cgroup are kept, never the command line: it may carry secrets (QEMU's
 * `-object secret,data=...`).
 */
export function readProcessFacts(pid: number, procRoot = '/proc'): ProcessFacts {
  const dir = path.join(procRoot, String(pid));
  const cmdline = readOrNull(path.join(dir, 'cmdline'));
  const cgroup = readOrNull(path.join(dir, 'cgroup'));
  const clip = (s: string | null) => (s === null ? null : s.slice(0, MAX_FACT_CHARS));
  return { pid, vm: clip(cmdline ? vmName(splitCmdline(cmdline)) : null), cgroup: clip(cgroup ? cgroupPath(cgroup) : null) };
}

/**
 * Facts of each process read once, when a live source first sees its pid (the
 * process lives then). Bounded: past `limit` pids, new ones are counted, not read.
 */
export class ProcessFactsCache {
  readonly facts = new Map<number, ProcessFacts>();
  overflow = 0;
  /** Facts read since the last take(): for the capture writer. */
  private fresh: ProcessFacts[] = [];

  constructor(
    private readonly procRoot = '/proc',
    private readonly limit = MAX_PROCESS_FACTS,
  ) {}

  /** Reads the pid's facts the first time it is seen. */
  see(pid: number): void {
    // pid 0: the idle task (interrupts), nothing in /proc to read.
    if (pid <= 0 || this.facts.has(pid)) return;
    if (this.facts.size >= this.limit) {
      this.overflow++;
      return;
    }
    const f = readProcessFacts(pid, this.procRoot);
    this.facts.set(pid, f);
    this.fresh.push(f);
  }

  get(pid: number): ProcessFacts | undefined {
    return this.facts.get(pid);
  }

  /** The facts read since the last call. */
  take(): ProcessFacts[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }
}
