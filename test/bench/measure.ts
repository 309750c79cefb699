import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { BpfObject, RingBuffer } from '../../src/loader';
import { ROOT, BPF_OBJECT, tracefs } from '../helpers';

export const BENCH_BUILD = path.join(ROOT, 'build', 'bench');

/** Compiles the benchmark's C helpers (the reference consumer, the getppid loop). */
export function buildHelpers(): void {
  fs.mkdirSync(BENCH_BUILD, { recursive: true });
  const libbpf = execFileSync('pkg-config', ['--cflags', '--libs', 'libbpf'], { encoding: 'utf8' }).trim().split(/\s+/);
  for (const name of ['consumer', 'getppid_loop', 'getppid_rate', 'getppid_procs', 'map_entries']) {
    execFileSync('gcc', ['-O2', '-o', path.join(BENCH_BUILD, name), path.join(ROOT, 'test', 'bench', `${name}.c`), ...libbpf, '-lpthread']);
  }
}

export interface Delivery {
  events: number;
  lost: number;
  seconds: number;
  rate: number;
}

/** The C libbpf consumer of selftest_getppid, counting records for `seconds`. */
export function cDelivery(burst: number, seconds: number): Delivery {
  const out = execFileSync(path.join(BENCH_BUILD, 'consumer'), [BPF_OBJECT, String(burst), String(seconds)], { encoding: 'utf8' });
  const m = /events=(\d+) lost=(\d+) seconds=([\d.]+)/.exec(out);
  if (!m) throw new Error(`consumer printed: ${out}`);
  const events = Number(m[1]);
  return { events, lost: Number(m[2]), seconds: Number(m[3]), rate: events / Number(m[3]) };
}

/** The same producer consumed in JavaScript through bpf-loader-ts (batches counted, as the C side counts). */
export async function jsDelivery(burst: number, seconds: number): Promise<Delivery> {
  tracefs();
  const obj = BpfObject.open(BPF_OBJECT);
  obj.disableAll();
  obj.setAutoload('selftest_getppid', true);
  obj.setConstants({ it_cfg_target_tgid: process.pid, it_cfg_selftest_burst: burst });
  obj.setMaxEntries('it_events', 16 << 20);
  await obj.load();
  obj.attach('selftest_getppid', 'tracepoint', 'syscalls:sys_enter_getppid');
  let events = 0;
  const ring = new RingBuffer(obj.map('it_events'), (b) => (events += b.count));
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads'); const s = new Int32Array(workerData);
     while (Atomics.load(s, 0) === 0) for (let i = 0; i < 1000; i++) process.ppid;`,
    { eval: true, workerData: stop },
  );
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  Atomics.store(new Int32Array(stop), 0, 1);
  await new Promise((r) => worker.once('exit', r));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  ring.drain();
  const counters = obj.map('it_counters');
  const lost = Number(counters.sumU64(counters.lookup(Buffer.alloc(4))!));
  ring.close();
  obj.close();
  return { events, lost, seconds: elapsed, rate: events / elapsed };
}

/** Nanoseconds per getppid() in the C loop, with whatever is attached at the time. */
export async function getppidNs(calls: number, attach: (pid: number) => Promise<() => Promise<void>>): Promise<number> {
  const child = spawn(path.join(BENCH_BUILD, 'getppid_loop'), [String(calls)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const waitLine = (): Promise<string> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (lines.length) return resolve(lines.shift()!);
        child.stdout.once('data', check);
      };
      check();
    });
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const pid = Number(await waitLine());
  const detach = await attach(pid);
  child.stdin.write('go\n');
  const ns = Number(await waitLine());
  await detach();
  return ns;
}
