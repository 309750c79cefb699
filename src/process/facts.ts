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
 * What /proc here shows of the thread an event came from: `same` when it has the
 * comm the event saw. A source in another pid namespace (a container without the
 * host's) or a pid reused since would otherwise name the wrong process. `exited`:
 * the thread is gone but its process lives (a short-lived worker thread); `gone`:
 * no such process.
 */
function threadState(pid: number, tid: number, comm: string, procRoot: string): 'same' | 'other' | 'exited' | 'gone' {
  const dir = path.join(procRoot, String(pid));
  const seen = readOrNull(path.join(dir, 'task', String(tid), 'comm'));
  if (seen !== null) return seen.replace(/\n$/, '') === comm ? 'same' : 'other';
  return fs.existsSync(dir) ? 'exited' : 'gone';
}

/**
 * Events of a pid whose thread /proc shows under another name before its facts
 * are given up as unknown; events from threads that exited while the process
 * lives count 1/EXITED_PER_TRY of a try, since its other threads can still tell.
 */
const TRIES = 3;
const EXITED_PER_TRY = 16;

/**
 * Facts of each process read once, when a live source first sees its pid (the
 * process lives then). Bounded: when `limit` pids are held, those whose process has
 * exited and whose facts no table has asked for (get(): a process row, a failure, a
 * fault names them) make room, at most once a second; past that, new pids are counted,
 * not read. Without it a burst of short-lived processes filled the table for good, and
 * a long-running agent named no VM started after it.
 */
export class ProcessFactsCache {
  readonly facts = new Map<number, ProcessFacts>();
  /** Events whose process was not looked up: the table was full. */
  overflow = 0;
  /** Facts read since the last take(): for the capture writer. */
  private fresh: ProcessFacts[] = [];
  /** Pids whose event thread /proc did not show yet, and how many tries that cost (see TRIES). */
  private readonly misses = new Map<number, number>();
  /** Pids whose facts a table asked for: kept after their process exits. */
  private readonly wanted = new Set<number>();
  private lastSweepMs = -Infinity;

  constructor(
    private readonly procRoot = '/proc',
    private readonly limit = MAX_PROCESS_FACTS,
  ) {}

  /**
   * Reads the pid's facts the first time one of its threads is seen, when /proc
   * shows that thread (tid and comm as the event has them); else tries again with
   * its next events, then keeps it as unknown (at once when the process is gone).
   */
  see(pid: number, tid: number, comm: string): void {
    // pid 0: the idle task (interrupts), nothing in /proc to read.
    if (pid <= 0 || this.facts.has(pid)) return;
    if (this.facts.size >= this.limit && !this.sweep()) {
      this.overflow++;
      return;
    }
    let f: ProcessFacts;
    const state = threadState(pid, tid, comm, this.procRoot);
    if (state === 'same') f = readProcessFacts(pid, this.procRoot);
    else {
      const cost = state === 'gone' ? TRIES : state === 'exited' ? 1 / EXITED_PER_TRY : 1;
      const n = (this.misses.get(pid) ?? 0) + cost;
      if (n < TRIES) {
        this.misses.set(pid, n);
        return;
      }
      f = { pid, vm: null, cgroup: null };
    }
    this.misses.delete(pid);
    this.facts.set(pid, f);
    if (f.vm !== null || f.cgroup !== null) this.fresh.push(f);
  }

  get(pid: number): ProcessFacts | undefined {
    const f = this.facts.get(pid);
    if (f) this.wanted.add(pid);
    return f;
  }

  /** Forgets the exited processes no table asked about; true when that made room. */
  private sweep(now = Date.now()): boolean {
    if (now - this.lastSweepMs < 1000) return false;
    this.lastSweepMs = now;
    const gone = (pid: number) => !fs.existsSync(path.join(this.procRoot, String(pid)));
    for (const pid of this.facts.keys()) if (!this.wanted.has(pid) && gone(pid)) this.facts.delete(pid);
    for (const pid of this.misses.keys()) if (gone(pid)) this.misses.delete(pid);
    return this.facts.size < this.limit;
  }

  /** The facts read since the last call. */
  take(): ProcessFacts[] {
    const out = this.fresh;
    this.fresh = [];
    return out;
  }
}
