import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU time of a process so far, in seconds: the sum of its threads' on-CPU
 * nanoseconds in /proc/<pid>/task/<tid>/schedstat. utime + stime of
 * /proc/<pid>/stat count in clock ticks (10 ms), which over a 5 s window are
 * steps of 0.2 % of a core: as large as the differences an agent's figure is
 * about. A thread that exited between two readings drops out of the sum.
 */
export function cpuSeconds(pid: number): number {
  try {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // The thread ended while we looked.
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    // No schedstat here (CONFIG_SCHED_INFO off): the ticks below.
  }
  return tickSeconds(pid);
}

/** utime + stime of a process so far, in seconds, from /proc/<pid>/stat (clock ticks). */
function tickSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/** cutime + cstime from a /proc/<pid>/stat text: the CPU of the children it waited for. */
export function childrenCpuSeconds(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / TICK;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU of a process in percent of one core, over `seconds` of wall time. */
export async function cpuPercentOver(pid: number, seconds: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const c1 = cpuSeconds(pid);
  return (100 * (c1 - c0)) / (Number(process.hrtime.bigint() - t0) / 1e9);
}
