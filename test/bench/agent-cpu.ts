/**
 * agent.cpu_percent.<rate>: user + system CPU of a live `iommutrace export` (the
 * fleet agent, in whatever mode the export command runs: in-kernel aggregation
 * once it has it) while the selftest producer (getppid_rate.c) makes getppid()
 * calls at 10 k, 100 k and 1 M a second, each firing the selftest probe once.
 * The reference is `iommutrace record` of the same producer at the same rate:
 * every event through the ring buffer into JavaScript, the path an aggregating
 * agent must not pay. Several windows per rate give a median and a spread.
 *
 *   node dist/test/bench/agent-cpu.js [WINDOWS] [SECONDS]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI } from '../helpers';
import { BENCH_BUILD, buildHelpers } from './measure';
import { cpuPercentOver } from './proc-cpu';
import { spread } from './prog-stats';

export const AGENT_RATES = [10_000, 100_000, 1_000_000];

export interface AgentCpu {
  rate: number;
  /** Calls a second the producer made, median over the windows (it may fall short at 1 M on a busy host). */
  achieved: number;
  export: ReturnType<typeof spread>;
  record: ReturnType<typeof spread>;
  /** Which path export took: summed in the kernel, or every event through the ring buffer. */
  mode: string;
}

/**
 * The mode a plain `export` runs in: an export that offers --every-event sums in
 * the kernel unless asked (issue 15, part 1); one without it sends every event.
 */
export function exportMode(): string {
  const help = execFileSync(process.execPath, [CLI, 'export', '--help'], { encoding: 'utf8' });
  return help.includes('--every-event') ? 'aggregated in the kernel (export\'s default)' : 'every event through the ring buffer (this export has no aggregated mode)';
}

/** Spawns `node CLI args` and resolves with it once a line of its stderr matches `ready`. */
export async function startCli(args: string[], ready: RegExp): Promise<{ p: ChildProcess; line: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const line = await new Promise<string>((resolve, reject) => {
    p.stderr!.on('data', (d) => {
      err += d;
      const m = err.split('\n').find((l) => ready.test(l));
      if (m) resolve(m);
    });
    p.once('exit', (code) => reject(new Error(`iommutrace ${args[0]} exited ${code}: ${err.trim().slice(-300)}`)));
  });
  return { p, line };
}

export async function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await exited;
}

/** CPU percent of the CLI process over `windows` windows of `seconds`, after a warm-up. */
async function windowsOf(pid: number, windows: number, seconds: number): Promise<number[]> {
  await new Promise((r) => setTimeout(r, 2000));
  const out: number[] = [];
  for (let i = 0; i < windows; i++) out.push(await cpuPercentOver(pid, seconds));
  return out;
}

export async function agentCpu(opts: { windows?: number; seconds?: number; rates?: number[] } = {}): Promise<AgentCpu[]> {
  const windows = opts.windows ?? 3;
  const seconds = opts.seconds ?? 5;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-agent-cpu-'));
  const results: AgentCpu[] = [];
  const mode = exportMode();
  try {
    for (const rate of opts.rates ?? AGENT_RATES) {
      const producer = spawn(path.join(BENCH_BUILD, 'getppid_rate'), [String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const made: number[] = [];
      producer.stdout!.on('data', (d: Buffer) => made.push(...d.toString().trim().split('\n').map(Number)));
      try {
        const exp = await startCli(['export', '--probes', 'selftest.getppid', '--listen', '127.0.0.1:0'], /^exporting /);
        let exportCpu: number[];
        try {
          exportCpu = await windowsOf(exp.p.pid!, windows, seconds);
        } finally {
          await stopProcess(exp.p);
        }
        const file = path.join(tmp, 'agent.iotrace');
        const rec = await startCli(['record', '--probes', 'selftest.getppid', '-o', file, '--force'], /^recording to /);
        let recordCpu: number[];
        try {
          recordCpu = await windowsOf(rec.p.pid!, windows, seconds);
        } finally {
          await stopProcess(rec.p);
          fs.rmSync(file, { force: true });
        }
        results.push({ rate, achieved: spread(made.slice(1)).median, export: spread(exportCpu), record: spread(recordCpu), mode });
      } finally {
        await stopProcess(producer, 'SIGTERM');
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}

if (require.main === module) {
  buildHelpers();
  const [windows, seconds] = process.argv.slice(2).map(Number);
  agentCpu({ windows: windows || undefined, seconds: seconds || undefined }).then(
    (rs) => {
      for (const r of rs) {
        console.log(
          `agent.cpu_percent.${r.rate}: export ${r.export.median.toFixed(2)} % (${r.export.min.toFixed(2)}-${r.export.max.toFixed(2)}), ` +
            `record ${r.record.median.toFixed(2)} % (${r.record.min.toFixed(2)}-${r.record.max.toFixed(2)}); producer ${r.achieved}/s; ${r.mode}`,
        );
      }
    },
    (err) => {
      console.error(`agent-cpu: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
}
