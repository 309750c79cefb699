/**
 * Memory of `record`: the real command over N selftest events from the kernel
 * (our getppid() calls, paced by what reaches the file). The baseline is once
 * the probes are attached; the growth is the live heap at the end minus then,
 * both after a full collection.
 *
 *   node dist/test/bench/record-memory.js FILE [EVENTS] [RECORD_FLAGS...]
 *
 * (RECORD_FLAGS, e.g. --ring-size 4, to see what a setting moves; the benchmark gives none.)
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CLI } from '../helpers';
import { liveHeap, MB, measuredNode, MemoryRun, residentMb } from './memory';

export async function recordMemory(file: string, n: number, hookFile: string, flags: string[] = []): Promise<MemoryRun> {
  const node = measuredNode(hookFile);
  const child = spawn(process.execPath, [...node.args, CLI, 'record', '--probes', 'selftest.getppid', '-o', file, '--force', ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env: node.env });
  let err = '';
  let out = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.on('data', (d) => (out += d));
  try {
    while (!/recording to/.test(err)) {
      if (child.exitCode !== null) throw new Error(`record exited: ${err.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    const startMb = residentMb(child.pid!).rss;
    const base = await liveHeap(child.pid!, hookFile);
    // Each getppid() of ours is one event (the probe sees every process's: others add
    // theirs). Paced by what reached the file, so a busy machine slows the producer
    // instead of overflowing the ring. Bytes per event: from the first chunk (flushed
    // within a second), lowered whenever the file lags longer than a second.
    const chunk = 100_000;
    const size = () => fs.statSync(file).size - empty;
    const empty = fs.statSync(file).size;
    let perEvent = 0;
    for (let done = 0; done < n; ) {
      for (let i = 0; i < chunk && done < n; i++, done++) void process.ppid;
      if (!perEvent) {
        await new Promise((r) => setTimeout(r, 1500));
        perEvent = size() / done;
      }
      const until = Date.now() + 1000;
      while (size() < (done - 2 * chunk) * perEvent && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      if (Date.now() >= until) perEvent = Math.min(perEvent, size() / done);
    }
    await new Promise((r) => setTimeout(r, 1500));
    const end = await liveHeap(child.pid!, hookFile);
    const peakMb = residentMb(child.pid!).peak;
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    const m = /(\d+) events, (\d+) lost/.exec(out);
    return { startMb, peakMb, heapBaseMb: base.heapUsed / MB, heapEndMb: end.heapUsed / MB, externalEndMb: end.external / MB, events: Number(m?.[1] ?? 0), note: `${m?.[2] ?? '?'} lost` };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  }
}

if (require.main === module) {
  const [file, count, ...flags] = process.argv.slice(2);
  recordMemory(file, Number(count ?? 10_000_000), `${file}.heap`, flags).then((r) => console.log(JSON.stringify(r)), (e) => {
    console.error(`record-memory: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
