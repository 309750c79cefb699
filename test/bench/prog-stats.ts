import * as fs from 'node:fs';
import { parseProgFdinfo } from '../../src/export/bpf-stats';

/**
 * The kernel's run statistics (kernel.bpf_stats_enabled) summed over every BPF
 * program a process holds open, ours or bpftrace's alike: its fds that link to
 * anon_inode:bpf-prog, read from /proc/<pid>/fdinfo. The same reading for both
 * tools, so their figures compare.
 */
export interface ProgRun {
  programs: number;
  runCount: number;
  runTimeNs: number;
  /** Runs and run time per program type (fdinfo's prog_type: 2 kprobe, 5 tracepoint, 26 tracing, i.e. fentry/fexit). */
  byType: Record<string, { runCount: number; runTimeNs: number }>;
  /** Each program by its id (fdinfo's prog_id): type, runs and run time, for telling the functions apart by their counts. */
  byProgram: Record<string, { type: string; runCount: number; runTimeNs: number }>;
}

export function progRuns(pid: number | 'self'): ProgRun {
  const out: ProgRun = { programs: 0, runCount: 0, runTimeNs: 0, byType: {}, byProgram: {} };
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let text;
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') continue;
      text = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const stats = parseProgFdinfo(text);
    if (!stats) continue;
    out.programs++;
    out.runCount += stats.runCount;
    out.runTimeNs += stats.runTimeNs;
    const type = /^prog_type:\s*(\d+)/m.exec(text)?.[1] ?? '?';
    const id = /^prog_id:\s*(\d+)/m.exec(text)?.[1] ?? fd;
    out.byProgram[id] = { type, ...stats };
    const t = (out.byType[type] ??= { runCount: 0, runTimeNs: 0 });
    t.runCount += stats.runCount;
    t.runTimeNs += stats.runTimeNs;
  }
  return out;
}

export function progRunsSince(before: ProgRun, after: ProgRun): ProgRun {
  const byType: ProgRun['byType'] = {};
  for (const [t, n] of Object.entries(after.byType)) {
    const b = before.byType[t] ?? { runCount: 0, runTimeNs: 0 };
    byType[t] = { runCount: n.runCount - b.runCount, runTimeNs: n.runTimeNs - b.runTimeNs };
  }
  const byProgram: ProgRun['byProgram'] = {};
  for (const [id, p] of Object.entries(after.byProgram)) {
    const b = before.byProgram[id] ?? { runCount: 0, runTimeNs: 0 };
    byProgram[id] = { type: p.type, runCount: p.runCount - b.runCount, runTimeNs: p.runTimeNs - b.runTimeNs };
  }
  return { programs: after.programs, runCount: after.runCount - before.runCount, runTimeNs: after.runTimeNs - before.runTimeNs, byType, byProgram };
}

/** Turns the kernel's per-program run statistics on or off; returns the previous setting to restore. */
export function setBpfStats(on: boolean): string {
  const file = '/proc/sys/kernel/bpf_stats_enabled';
  const was = fs.readFileSync(file, 'utf8').trim();
  fs.writeFileSync(file, on ? '1' : '0');
  return was;
}

export function enableBpfStats(): string {
  return setBpfStats(true);
}

export function restoreBpfStats(was: string): void {
  fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', was);
}

/** Median, lowest and highest of a list (sorted copy). */
export function spread(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1] };
}

/**
 * Geometric mean of a list. Over rounds in which tools run on the same calls, in
 * a full rotation of their order, the ratio of two tools' geometric means is the
 * geometric mean of their per-round ratios: each round's own pace (how many calls
 * it made, how warm the guest was) cancels, and each position counts alike.
 */
export function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
}
