/**
 * probe.lab_ns_per_call: the per-call cost of our real DMA-map, unmap and pin
 * programs on Debian 6.1 in the QEMU lab, as `export` (the agent) and `record`
 * (every event) run them, against bpftrace doing the same job in the same boot
 * (lab-overhead-guest.ts runs inside). One boot; takes the lab
 * lock, so it waits for any other lab run. Runs alone too:
 *
 *   node dist/test/bench/lab-overhead.js [ROUNDS]
 *
 * Experiments: IT_LAB_VFIO_ROUNDS sets the workload's rounds (more calls per run);
 * IT_BENCH_VARIANTS adds runs of other builds of the object (lab-overhead-guest.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareWorkloadBinaries, runLab } from '../../src/lab';
import { type GuestRun } from './lab-overhead-guest';
import { spread } from './prog-stats';

export interface LabOverhead {
  kernel: string;
  record: ReturnType<typeof spread>;
  export: ReturnType<typeof spread>;
  bpftrace: ReturnType<typeof spread>;
  /** The kprobe pair's per-call cost, by tool (medians). */
  kprobe: Record<string, number>;
  /** Per call of the map/unmap functions and of VFIO's pin/unpin alone, by tool (medians; NaN when bpftool could not name the programs). */
  byFunction: Record<string, { map: number; pin: number }>;
  runs: GuestRun[];
}

export async function labOverhead(rounds = 3): Promise<LabOverhead> {
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
      timeoutMs: 40 * 60_000,
    });
    if (r.exitCode !== 0) throw new Error(`the guest run failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    const res = JSON.parse(line) as { kernel: string; runs: GuestRun[] };
    const of = (tool: string, key: 'nsPerCall' | 'kprobeNsPerCall' = 'nsPerCall') => spread(res.runs.filter((x) => x.tool === tool).map((x) => x[key]));
    const tools = ['iommutrace export', 'iommutrace record', 'bpftrace'];
    const kprobe = Object.fromEntries(tools.map((t) => [t, of(t, 'kprobeNsPerCall').median]));
    const fn = (t: string, k: 'map' | 'pin') => spread(res.runs.filter((x) => x.tool === t).map((x) => x.byFunction?.[k] ?? NaN)).median;
    const byFunction = Object.fromEntries(tools.map((t) => [t, { map: fn(t, 'map'), pin: fn(t, 'pin') }]));
    return { kernel: res.kernel, record: of(tools[1]), export: of(tools[0]), bpftrace: of(tools[2]), kprobe, byFunction, runs: res.runs };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

if (require.main === module) {
  labOverhead(Number(process.argv[2]) || 3).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err) => {
      console.error(`lab-overhead: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
}
