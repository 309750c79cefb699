import * as fs from 'node:fs';
import { LiveSource } from '../source/live';
import { BpfProgStat } from './model';

/** The kernel only counts program runs while kernel.bpf_stats_enabled is 1 (it costs a little per run). */
export function bpfStatsEnabled(): boolean {
  try {
    return fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** run_cnt and run_time_ns of a program from its /proc/<pid>/fdinfo text. */
export function parseProgFdinfo(text: string): { runCount: number; runTimeNs: number } | undefined {
  const cnt = /^run_cnt:\s*(\d+)/m.exec(text);
  const time = /^run_time_ns:\s*(\d+)/m.exec(text);
  if (!cnt || !time) return undefined;
  return { runCount: Number(cnt[1]), runTimeNs: Number(time[1]) };
}

/** Run statistics of every program of the attached probes, or undefined when the kernel does not keep them. */
export function liveProgStats(src: LiveSource): BpfProgStat[] | undefined {
  if (!bpfStatsEnabled()) return undefined;
  const fds = src.session.programFds();
  const out: BpfProgStat[] = [];
  for (const probe of src.session.attached()) {
    for (const prog of probe.programs) {
      const fd = fds.get(prog.program);
      if (fd === undefined || fd < 0) continue;
      let stats;
      try {
        stats = parseProgFdinfo(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      } catch {
        continue;
      }
      if (stats) out.push({ probe: probe.name, program: prog.program, ...stats });
    }
  }
  return out;
}
