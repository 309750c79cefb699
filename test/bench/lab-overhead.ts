/**
 * probe.lab_ns_per_call: the per-call cost of our real DMA-map, unmap and pin
 * programs on Debian 6.1 in the QEMU lab, as `export` (the agent) and `record`
 * (every event) run them, against bpftrace doing the same job on the same calls
 * (lab-overhead-guest.ts runs inside). One boot; takes the lab
 * lock, so it waits for any other lab run. Runs alone too:
 *
 *   node dist/test/bench/lab-overhead.js [ROUNDS, 9]
 *
 * Then the floor phase: each tool alone, none, and programs that do nothing,
 * around one-page maps; what each adds to the caller's time (floorOf).
 *
 * Experiments: IT_LAB_VFIO_ROUNDS sets the workload's rounds (more calls per run);
 * IT_BENCH_VARIANTS adds runs of other builds of the object (lab-overhead-guest.ts);
 * IT_LAB_KERNEL_ARGS replaces the guest's kernel arguments (default LAB_CLOCK_ARGS;
 * empty: the HPET clock the lab's other boots read).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareWorkloadBinaries, runLab } from '../../src/lab';
import { type FloorRun, type GuestRun } from './lab-overhead-guest';
import { geomean, spread } from './prog-stats';

type Figure = ReturnType<typeof spread> & { geomean: number };

export interface LabOverhead {
  kernel: string;
  /** The guest's kernel arguments beyond the lab's own (its clock). */
  kernelArgs: string[];
  /** Per call, ns: median, lowest and highest of the rounds, and their geometric mean (the figure; see geomean()). */
  record: Figure;
  export: Figure;
  bpftrace: Figure;
  /** The kprobe pair's per-call cost, by tool (geometric means). */
  kprobe: Record<string, number>;
  /** Per call of the map/unmap functions and of VFIO's pin/unpin alone, by tool (geometric means; NaN when bpftool could not name the programs). */
  byFunction: Record<string, { map: number; pin: number }>;
  runs: GuestRun[];
  floor: Floor;
}

/**
 * The floor phase (lab-overhead-guest.ts floorPhase): what each tool adds to a
 * caller's round of one-page map + unmap, against programs that do nothing.
 */
export interface Floor {
  /** Time per round with nothing attached: median, lowest, highest over the rounds. */
  none: ReturnType<typeof spread>;
  /**
   * Per tool (the steps, iommutrace export, bpftrace): ns added per round. `value`, the
   * figure: the tool's fastest round minus the fastest bare round (the host only ever
   * adds time, and on a shared machine it did so in two rounds of five); the median,
   * lowest and highest of each round's own difference beside it.
   */
  added: Record<string, ReturnType<typeof spread> & { value: number }>;
  /** Traced calls (program pairs) per round, counted with the run statistics on. */
  callsPerRound: Record<string, number>;
  /** Ours (export) over the empty programs, by what each adds. */
  ratio: number;
  /** Ours over bpftrace, the same way. */
  bpftraceRatio: number;
  runs: FloorRun[];
}

/** What each tool adds per round over the bare run (see Floor.added). */
export function floorOf(runs: FloorRun[], callsPerRound: Record<string, number>): Floor {
  const bare = new Map(runs.filter((r) => r.tool === 'none').map((r) => [r.round, r.nsPerRound]));
  const fastest = (t: string) => Math.min(...runs.filter((r) => r.tool === t).map((r) => r.nsPerRound));
  const tools = [...new Set(runs.map((r) => r.tool))].filter((t) => t !== 'none');
  const added = Object.fromEntries(
    tools.map((t) => [
      t,
      { value: fastest(t) - fastest('none'), ...spread(runs.filter((r) => r.tool === t && bare.has(r.round)).map((r) => r.nsPerRound - bare.get(r.round)!)) },
    ]),
  );
  const of = (t: string) => added[t]?.value ?? NaN;
  return {
    none: spread([...bare.values()]),
    added,
    callsPerRound,
    ratio: of('iommutrace export') / of('empty'),
    bpftraceRatio: of('iommutrace export') / of('bpftrace'),
    runs,
  };
}

/** rounds: a multiple of the tools' count (3, more with IT_BENCH_VARIANTS) gives each every position in the trampolines alike. */
/**
 * The guest's clock: its TSC, as a host's. Left alone the guest finds its TCG TSCs
 * unsynchronized and reads an emulated HPET instead, a device access per clock
 * read that made every clock-reading tool look 1.2 µs a read dearer (measured).
 */
export const LAB_CLOCK_ARGS = 'tsc=reliable clocksource=tsc';

export async function labOverhead(rounds = 9, kernelArgs: string[] = (process.env.IT_LAB_KERNEL_ARGS ?? LAB_CLOCK_ARGS).split(' ').filter(Boolean)): Promise<LabOverhead> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-lab-overhead-'));
  try {
    const bin = await prepareWorkloadBinaries();
    const guest = path.join(__dirname, 'lab-overhead-guest.js');
    const r = await runLab({
      kernel: 'debian-6.1',
      workloads: 'none',
      command: [process.execPath, guest, '--bin', bin, '--rounds', String(rounds), ...(process.env.IT_LAB_VFIO_ROUNDS ? ['--vfio-rounds', process.env.IT_LAB_VFIO_ROUNDS] : [])],
      env: process.env.IT_BENCH_VARIANTS ? { IT_BENCH_VARIANTS: process.env.IT_BENCH_VARIANTS } : undefined,
      outDir: out,
      schedule: 'before',
      kernelArgs,
      timeoutMs: 40 * 60_000,
    });
    if (r.exitCode !== 0) throw new Error(`the guest run failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    const res = JSON.parse(line) as { kernel: string; runs: GuestRun[]; floor: FloorRun[]; callsPerRound: Record<string, number> };
    const values = (tool: string, key: 'nsPerCall' | 'kprobeNsPerCall') => res.runs.filter((x) => x.tool === tool).map((x) => x[key]);
    const of = (tool: string, key: 'nsPerCall' | 'kprobeNsPerCall' = 'nsPerCall'): Figure => ({ ...spread(values(tool, key)), geomean: geomean(values(tool, key)) });
    const tools = ['iommutrace export', 'iommutrace record', 'bpftrace'];
    const kprobe = Object.fromEntries(tools.map((t) => [t, of(t, 'kprobeNsPerCall').geomean]));
    const fn = (t: string, k: 'map' | 'pin') => geomean(res.runs.filter((x) => x.tool === t).map((x) => x.byFunction?.[k] ?? NaN));
    const byFunction = Object.fromEntries(tools.map((t) => [t, { map: fn(t, 'map'), pin: fn(t, 'pin') }]));
    return { kernel: res.kernel, kernelArgs, record: of(tools[1]), export: of(tools[0]), bpftrace: of(tools[2]), kprobe, byFunction, runs: res.runs, floor: floorOf(res.floor, res.callsPerRound) };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

if (require.main === module) {
  labOverhead(Number(process.argv[2]) || 9).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err) => {
      console.error(`lab-overhead: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
}
