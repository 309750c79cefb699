/**
 * Memory of a running command, measured from outside: resident memory and its
 * high-water mark from /proc/PID/status, and the live heap after a full
 * collection, asked of the child through heap-hook.js (preloaded with
 * --expose-gc into the benchmark's child only).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HeapLine } from './heap-hook';

export const MB = 1 << 20;
const HOOK = path.join(__dirname, 'heap-hook.js');

/** Node's arguments and environment for a measured child writing its heap lines to `hookFile`. */
export function measuredNode(hookFile: string): { args: string[]; env: NodeJS.ProcessEnv } {
  fs.writeFileSync(hookFile, '');
  return { args: ['--expose-gc', '--require', HOOK], env: { ...process.env, IOMMUTRACE_HEAP_HOOK: hookFile } };
}

/** VmRSS and VmHWM (the peak resident memory) of a process, in MB. */
export function residentMb(pid: number): { rss: number; peak: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Asks the child to collect and report its heap; resolves with its line. */
export async function liveHeap(pid: number, hookFile: string): Promise<HeapLine> {
  const before = fs.readFileSync(hookFile, 'utf8').split('\n').filter(Boolean).length;
  process.kill(pid, 'SIGUSR2');
  for (let waited = 0; waited < 60_000; waited += 50) {
    const lines = fs.readFileSync(hookFile, 'utf8').split('\n').filter(Boolean);
    if (lines.length > before) return JSON.parse(lines[before]) as HeapLine;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pid ${pid} did not report its heap`);
}

/** One run of one command. */
export interface MemoryRun {
  /** Resident memory once started (probes attached, or listening), before events. */
  startMb: number;
  /** VmHWM at the end: the most it was ever resident. */
  peakMb: number;
  /** Live heap after a full collection at the baseline (after start-up or the warm-up) and at the end. */
  heapBaseMb: number;
  heapEndMb: number;
  /** Outside the heap (Buffers, the addon), at the end. */
  externalEndMb: number;
  events: number;
  note: string;
}

/** A benchmark figure as run.ts records it. */
export interface MemoryFigure {
  name: string;
  value: number;
  unit: string;
  reference: { name: string; value: number };
  goal: string;
  note: string;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const range = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;

/**
 * Two figures per command from its repeated runs, each the median with the
 * range in the note: the live heap after a full collection at the end against
 * the same at the baseline (the growth is the difference: garbage and V8's
 * timing are not in it), and the peak resident memory against the resident
 * memory after start-up.
 */
export function memoryFigures(command: string, runs: MemoryRun[], goals: { growthMb: number; peakMb?: number }, baseline: string): MemoryFigure[] {
  const growth = runs.map((r) => r.heapEndMb - r.heapBaseMb);
  const base = runs.map((r) => r.heapBaseMb);
  const end = runs.map((r) => r.heapEndMb);
  const start = runs.map((r) => r.startMb);
  const peak = runs.map((r) => r.peakMb);
  const of = `median of ${runs.length} runs`;
  return [
    {
      name: `memory.live_heap_mb.${command}`, value: median(end), unit: 'MB',
      reference: { name: `live heap ${baseline}`, value: median(base) },
      goal: `growth <= ${goals.growthMb} MB`,
      note: `${of}; growth ${median(growth).toFixed(1)} MB (${range(growth)}), at the end ${range(end)}, ${baseline} ${range(base)}; outside the heap at the end ${median(runs.map((r) => r.externalEndMb)).toFixed(1)} MB; ${runs[0].events} events, ${runs[0].note}`,
    },
    {
      name: `memory.peak_rss_mb.${command}`, value: median(peak), unit: 'MB',
      reference: { name: 'resident after start-up', value: median(start) },
      goal: goals.peakMb ? `<= ${goals.peakMb} MB` : 'reported',
      note: `${of}; VmHWM ${range(peak)}, resident after start-up ${range(start)}`,
    },
  ];
}
