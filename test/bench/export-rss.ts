/**
 * memory.rss_growth_mb for `export`: the real command replays a 10 M event
 * capture holding a million group references that are never dropped, as fast
 * as it can, serving /metrics on loopback meanwhile. Resident memory (VmRSS) is
 * sampled throughout; the growth is the peak after the first tenth of the
 * events minus the resident memory then. The first tenth is the warm-up: V8
 * sizes its heap spaces and keeps the pages, whatever the load.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CaptureEvent } from '../../src/capture/writer';
import { CLI } from '../helpers';
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

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** The scrape endpoint's text, and one metric of it summed over its series. */
async function scrape(port: number): Promise<{ text: string; sum: (name: string) => number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
  return { text, sum };
}

export interface ExportRss {
  startMb: number;
  peakMb: number;
  events: number;
  refs: number;
  overflow: number;
}

export async function exportRss(file: string, n: number, port = 19464): Promise<ExportRss> {
  writeCapture(file, ['iommu.map', 'iommu.unmap', 'iommu.group_get', 'iommu.group_put'], withLeaks(n));
  const child = spawn(process.execPath, [CLI, 'export', '--replay', file, '--speed', '0', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  try {
    while (!/exporting/.test(err)) {
      if (child.exitCode !== null) throw new Error(`export exited: ${err.trim()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    let start = 0;
    let peak = 0;
    let events = 0;
    while (events < n) {
      await new Promise((r) => setTimeout(r, 200));
      const rss = rssMb(child.pid!);
      events = (await scrape(port)).sum('iommutrace_events_total');
      if (events >= n / 10 && !start) start = rss;
      if (start) peak = Math.max(peak, rss);
    }
    // Outstanding summed over groups: a million, however many the ledger keeps.
    const { sum, text } = await scrape(port);
    const refs = sum('iommutrace_group_references_outstanding');
    const overflow = Number(/iommutrace_ledger_overflow_total\{table="group_refs"\} (\S+)/.exec(text)?.[1] ?? 0);
    return { startMb: start, peakMb: Math.max(peak, rssMb(child.pid!)), events, refs, overflow };
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    fs.rmSync(file, { force: true });
  }
}
