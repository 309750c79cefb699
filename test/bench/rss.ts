/**
 * memory.rss_growth_mb for `record`: runs the real command over N selftest events
 * from the kernel and samples its resident memory (VmRSS) after start-up and at
 * the end. Usage: rss.js FILE N.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI } from '../helpers';

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function main(): Promise<void> {
  const [file, count] = process.argv.slice(2);
  const n = Number(count);
  const child = spawn(process.execPath, [CLI, 'record', '--probes', 'selftest.getppid', '-o', file, '--force'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  while (!/recording to/.test(err)) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 500));
  const start = rssMb(child.pid!);
  // Each getppid() of ours is one event; pace it so the ring never overflows.
  let peak = start;
  for (let done = 0; done < n; ) {
    for (let i = 0; i < 50_000 && done < n; i++, done++) void process.ppid;
    await new Promise((r) => setImmediate(r));
    if (done % 1_000_000 === 0) peak = Math.max(peak, rssMb(child.pid!));
  }
  await new Promise((r) => setTimeout(r, 1500));
  const end = Math.max(peak, rssMb(child.pid!));
  child.kill('SIGINT');
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((r) => child.once('exit', r));
  const m = /(\d+) events, (\d+) lost/.exec(out);
  console.log(`rss_start_mb=${start.toFixed(1)} rss_end_mb=${end.toFixed(1)} events=${m?.[1] ?? 0} lost=${m?.[2] ?? 0}`);
}

void main();
