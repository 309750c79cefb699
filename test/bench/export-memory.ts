/**
 * Memory of `export`: the real command replays a 10 M event capture holding a
 * million group references that are never dropped, as fast as it can, serving
 * /metrics on loopback meanwhile. The baseline is taken after the first million
 * events (V8 has sized its spaces, the ledger has started filling); the growth is
 * the live heap at the end minus the live heap then, both after a full collection.
 *
 *   node dist/test/bench/export-memory.js CAPTURE [EVENTS]   (writes CAPTURE when missing)
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CaptureEvent } from '../../src/capture/writer';
import * as path from 'node:path';
import { CLI, ROOT } from '../helpers';
import { liveHeap, MB, measuredNode, MemoryRun, residentMb } from './memory';
import { vfioLike, writeCapture } from './synthetic';

/** Every tenth event takes a reference in one of 64 groups from one of 256 call paths; none is put. */
export function* withLeaks(n: number): Generator<CaptureEvent> {
  let i = 0;
  for (const e of vfioLike(n)) {
    if (i % 10 === 9) {
      const path = BigInt(i % 256);
      yield {
        kind: 'group_ref', ts_ns: e.ts_ns, pid: 4242, tid: 4242, ret: 0, comm: 'vfio-workload', probe: 'iommu.group_get',
        group: 0xffff888100000000n + BigInt(i % 64) * 0x1000n, group_id: i % 64, nr_frames: 3, dev_name: '',
        stack: [0xffffffff81000000n + path * 64n, 0xffffffffc0a01000n + path, 0xffffffff81234567n, ...Array(13).fill(0n)],
      };
    } else yield e;
    i++;
  }
}

export function writeLeakCapture(file: string, n: number): void {
  writeCapture(file, ['iommu.map', 'iommu.unmap', 'iommu.group_get', 'iommu.group_put'], withLeaks(n));
}

/** The scrape endpoint's text, and one metric of it summed over its series. */
async function scrape(port: number): Promise<{ text: string; sum: (name: string) => number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
  return { text, sum };
}

/** The agent's V8 settings, as the systemd unit gives them (the one place they are set). */
export function agentNodeOptions(): string {
  const unit = fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', 'iommutrace-export.service'), 'utf8');
  const m = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit);
  if (!m) throw new Error('the systemd unit sets no NODE_OPTIONS');
  return m[1];
}

/** One run of `export --replay` over `file` (n events, from writeLeakCapture), with the agent's V8 settings. */
export async function exportMemory(file: string, n: number, hookFile: string, port = 19464): Promise<MemoryRun> {
  const node = measuredNode(hookFile);
  node.env.NODE_OPTIONS = agentNodeOptions();
  const child = spawn(process.execPath, [...node.args, CLI, 'export', '--replay', file, '--speed', '0', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'], env: node.env });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    while (!/exporting/.test(err)) {
      if (child.exitCode !== null) throw new Error(`export exited: ${err.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const startMb = residentMb(child.pid!).rss;
    let base;
    let events = 0;
    while (events < n) {
      await new Promise((r) => setTimeout(r, 200));
      events = (await scrape(port)).sum('iommutrace_events_total');
      if (events >= n / 10 && !base) base = await liveHeap(child.pid!, hookFile);
    }
    // Outstanding summed over groups: a million, however many the ledger keeps.
    const { sum, text } = await scrape(port);
    const refs = sum('iommutrace_group_references_outstanding');
    const overflow = Number(/iommutrace_ledger_overflow_total\{table="group_refs"\} (\S+)/.exec(text)?.[1] ?? 0);
    const end = await liveHeap(child.pid!, hookFile);
    return {
      startMb, peakMb: residentMb(child.pid!).peak, heapBaseMb: base!.heapUsed / MB, heapEndMb: end.heapUsed / MB, externalEndMb: end.external / MB, events,
      note: `NODE_OPTIONS ${node.env.NODE_OPTIONS} (the systemd unit's); ${refs} references outstanding, ${overflow} past the ledger's bound (counted, not kept)`,
    };
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
}

if (require.main === module) {
  const [file, count] = process.argv.slice(2);
  const n = Number(count ?? 10_000_000);
  if (!fs.existsSync(file)) writeLeakCapture(file, n);
  exportMemory(file, n, `${file}.heap`).then((r) => console.log(JSON.stringify(r)), (e) => {
    console.error(`export-memory: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
