/**
 * What `report --html` costs on the bench's 10 M-event capture (synthetic.ts's
 * VFIO-like stream): the time to write the page, its size, and how long headless
 * Chromium takes to open it until its script has drawn everything. A figure for
 * the README, not an assertion: `node dist/test/bench/html-report.js [EVENTS]`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Browser, CHROMIUM } from '../e2e/browser';
import { CLI } from '../helpers';
import { vfioLike, writeCapture } from './synthetic';

function timed(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`iommutrace ${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t0;
}

async function main(events: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-bench-'));
  const capture = path.join(dir, 'synthetic.iotrace');
  const page = path.join(dir, 'synthetic.html');
  try {
    const w = writeCapture(capture, ['iommu.map', 'iommu.unmap'], vfioLike(events));
    const reportMs = timed(['report', capture, '--json']);
    const htmlMs = timed(['report', capture, '--html', page]);
    const out: Record<string, number | string> = { events: w.events, capture_bytes: w.bytes, report_json_ms: Math.round(reportMs), html_write_ms: Math.round(htmlMs), html_bytes: fs.statSync(page).size };
    if (CHROMIUM) {
      const b = new Browser();
      try {
        const t0 = performance.now();
        out.page_load_ms = Math.round(await b.open(`file://${page}`));
        while ((await b.evaluate('document.body.dataset.ready')) !== 'true') await new Promise((r) => setTimeout(r, 10));
        out.chromium_start_and_open_ms = Math.round(performance.now() - t0);
        out.page_ready_ms = Number(await b.evaluate('document.body.dataset.readyMs'));
        out.console_errors = b.errors.length;
      } finally {
        await b.close();
      }
    } else out.chromium = 'not installed';
    console.log(JSON.stringify(out));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main(Number(process.argv[2] ?? 10_000_000)).catch((err) => {
  console.error(err);
  process.exit(1);
});
