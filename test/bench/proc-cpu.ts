import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of a process so far, in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
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
