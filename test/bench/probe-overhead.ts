/**
 * probe.overhead_ns on this machine's getppid tracepoint: our histogram program
 * against bpftrace's `hist()` doing the same, two ways, in rounds whose order
 * rotates (a busy host slows whichever run it catches, not always the same tool):
 * - `loop`: what a getppid() costs with the program attached minus what it costs
 *   bare (getppid_loop.c), with the kernel's run statistics off;
 * - `kernel`: run_time_ns / run_cnt of the programs, from the kernel itself
 *   (kernel.bpf_stats_enabled on for those runs only; it adds two clock reads
 *   per run to both tools alike).
 */
import { spawn } from 'node:child_process';
import { BpfObject } from '../../src/loader';
import { BPF_OBJECT } from '../helpers';
import { getppidNs } from './measure';
import { enableBpfStats, progRuns, progRunsSince, restoreBpfStats, spread, type ProgRun } from './prog-stats';

type Attach = (pid: number) => Promise<{ holder: number | 'self'; detach: () => Promise<void> }>;

async function attachOurs(pid: number): ReturnType<Attach> {
  const obj = BpfObject.open(BPF_OBJECT);
  obj.disableAll();
  obj.setAutoload('selftest_hist', true);
  obj.setConstants({ it_cfg_target_tgid: pid });
  await obj.load();
  obj.attach('selftest_hist', 'tracepoint', 'syscalls:sys_enter_getppid');
  return { holder: 'self', detach: async () => obj.close() };
}

async function attachBpftrace(pid: number): ReturnType<Attach> {
  const p = spawn('bpftrace', ['-e', `tracepoint:syscalls:sys_enter_getppid /pid == ${pid}/ { @h = hist(nsecs & 0xffff); }`], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (/Attaching/.test(out)) resolve();
    });
    p.once('exit', (code) => reject(new Error(`bpftrace exited ${code}`)));
  });
  // bpftrace says so before it has attached.
  await new Promise((r) => setTimeout(r, 500));
  return {
    holder: p.pid!,
    detach: async () => {
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
    },
  };
}

const TOOLS: Record<'ours' | 'bpftrace', Attach> = { ours: attachOurs, bpftrace: attachBpftrace };

/** One loop run with `tool` attached (or none); with `stats`, the programs' run statistics over it. */
async function run(calls: number, tool: Attach | undefined, stats: boolean): Promise<{ ns: number; runs?: ProgRun }> {
  let runs: ProgRun | undefined;
  const ns = await getppidNs(calls, async (pid) => {
    if (!tool) return async () => {};
    const { holder, detach } = await tool(pid);
    const before = stats ? progRuns(holder) : undefined;
    return async () => {
      if (before) runs = progRunsSince(before, progRuns(holder));
      await detach();
    };
  });
  return { ns, runs };
}

export interface ProbeOverhead {
  rounds: number;
  loop: { ours: ReturnType<typeof spread>; bpftrace: ReturnType<typeof spread>; bare: ReturnType<typeof spread> };
  kernel: { ours: ReturnType<typeof spread>; bpftrace: ReturnType<typeof spread> };
}

export async function probeOverhead(rounds = 5, calls = 2_000_000): Promise<ProbeOverhead> {
  const loop = { ours: [] as number[], bpftrace: [] as number[], bare: [] as number[] };
  const kernel = { ours: [] as number[], bpftrace: [] as number[] };
  const names = ['bare', 'ours', 'bpftrace'] as const;
  for (let r = 0; r < rounds; r++) {
    // Rotate the order: bare, ours, bpftrace; then ours, bpftrace, bare; ...
    const order = names.map((_, i) => names[(i + r) % names.length]);
    const bare: Record<string, number> = {};
    for (const name of order) bare[name] = (await run(calls, name === 'bare' ? undefined : TOOLS[name], false)).ns;
    loop.bare.push(bare.bare);
    loop.ours.push(bare.ours - bare.bare);
    loop.bpftrace.push(bare.bpftrace - bare.bare);
    const was = enableBpfStats();
    try {
      for (const name of r % 2 ? (['bpftrace', 'ours'] as const) : (['ours', 'bpftrace'] as const)) {
        const { runs } = await run(calls, TOOLS[name], true);
        if (!runs || runs.runCount === 0) throw new Error(`${name}: the kernel counted no program runs`);
        kernel[name].push(runs.runTimeNs / runs.runCount);
      }
    } finally {
      restoreBpfStats(was);
    }
  }
  return {
    rounds,
    loop: { ours: spread(loop.ours), bpftrace: spread(loop.bpftrace), bare: spread(loop.bare) },
    kernel: { ours: spread(kernel.ours), bpftrace: spread(kernel.bpftrace) },
  };
}
