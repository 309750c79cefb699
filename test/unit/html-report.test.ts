import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader';
import { CaptureWriter } from '../../src/capture/writer';
import { buildReport } from '../../src/report/build';
import { Bins, FIRST_WIDTH_NS, cumulative, used } from '../../src/report/html/downsample';
import { MAX_SITES, type PageReport } from '../../src/report/html/refs';
import { reportWithTimeline } from '../../src/report/html/timeline';
import { header } from '../bench/synthetic';
import { cli, hasStackTrace } from '../e2e/cli';
import { DEVICE, VM, writeVmCapture } from '../html-capture';

const sum = (xs: ArrayLike<number>): number => Array.from(xs).reduce((a, b) => a + b, 0);

test('downsampling: bins merge pairwise as a capture grows, every sum exact and in its own bin', () => {
  const bins = new Bins(16);
  const s = bins.addSeries();
  const t = bins.addSeries();
  const events: [number, number][] = [];
  // A pseudo-random walk over 12 orders of magnitude of time, values that do not round.
  let ts = 0;
  for (let i = 0; i < 20_000; i++) {
    ts += (i * 7919) % 1_000_003;
    if (i % 5000 === 4999) ts *= 3;
    const v = (i % 97) + 0.5;
    events.push([ts, v]);
    s[bins.index(ts)] += v;
    t[bins.index(ts)] += 1;
  }
  assert.ok(bins.used <= 16, `${bins.used} bins`);
  assert.ok(bins.width > FIRST_WIDTH_NS && Number.isInteger(Math.log2(bins.width / FIRST_WIDTH_NS)), `width ${bins.width} is the first width doubled`);
  assert.equal(sum(s), sum(events.map((e) => e[1])), 'the total is exact');
  assert.equal(sum(t), events.length, 'every event counted once');
  // Each bin holds exactly the events of its time range, whatever merges it went through.
  for (let i = 0; i < bins.used; i++) {
    const inBin = events.filter(([at]) => Math.floor(at / bins.width) === i);
    assert.equal(s[i], sum(inBin.map((e) => e[1])), `bin ${i}`);
  }
  assert.deepEqual(cumulative([3, 0, 2], [0, 1, 4]), [3, 2, 0]);
  assert.equal(used(bins, s).length, bins.used);
});

test('downsampling: a time before the start, or not finite, goes to the first bin; a bin count must be even', () => {
  const bins = new Bins(4);
  const s = bins.addSeries();
  s[bins.index(-5)] += 1;
  s[bins.index(0)] += 1;
  s[bins.index(Infinity)] += 1;
  s[bins.index(NaN)] += 1;
  assert.deepEqual(used(bins, s), [4]);
  assert.throws(() => new Bins(3), /even/);
});

test('timeline: per device and per process it sums to the report, at any resolution; marks counted', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-timeline-'));
  const file = path.join(dir, 'vm.iotrace');
  writeVmCapture(file);
  const report = buildReport(file);
  for (const maxBins of [2048, 8, 2]) {
    const tl = reportWithTimeline(file, {}, maxBins).timeline;
    assert.ok(tl.devices[0].map_bytes.length <= maxBins);
    for (const d of report.devices) {
      const s = tl.devices.find((x) => x.key === d.device);
      assert.ok(s, `${d.device} has a series`);
      assert.equal(sum(s.map_bytes), d.map_bytes, `${d.device} map bytes at ${maxBins} bins`);
      assert.equal(sum(s.unmap_bytes), d.unmap_bytes, `${d.device} unmap bytes`);
    }
    const vm = tl.processes.find((p) => p.key === String(VM.pid))!;
    const row = report.processes.find((p) => p.pid === VM.pid)!;
    assert.equal(vm.label, `${VM.name}: ${VM.comm} (${VM.pid})`);
    assert.deepEqual([sum(vm.map_bytes), sum(vm.unmap_bytes), sum(vm.pinned_pages), sum(vm.unpinned_pages)], [row.map_bytes, row.unmap_bytes, row.pinned_pages, row.unpinned_pages]);
    assert.equal(tl.processes.length, 1, 'the kernel driver\'s DMA is no process\'s');
    assert.deepEqual(tl.mark_counts, { attach: 1, detach: 0, map_failure: 2, fault: 1 });
  }
  const tl = reportWithTimeline(file).timeline;
  assert.equal(sum(tl.device_map_latency[DEVICE]), report.devices.find((d) => d.device === DEVICE)!.map_calls, 'every map call timed');
  // The report's window applies to the timeline too.
  const late = reportWithTimeline(file, { sinceNs: 3_100_000_000n }).timeline; // after the last map
  // (Its attach is outside the window too: the report and the timeline count that DMA under "unknown".)
  assert.equal(sum(late.devices.find((x) => x.key === DEVICE)?.map_bytes ?? []), 0);
  assert.equal(sum(late.devices.flatMap((x) => x.map_bytes)), 0);
});

/** The CLI's error: one line on stderr, no stack, the exit status given. */
function oneLine(r: { status: number | null; stderr: string }, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, pattern);
}

test('report --html: writes the page; refuses to overwrite without --force, the capture itself, a folder; bad input in one line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-flag-'));
  const capture = path.join(dir, 'vm.iotrace');
  writeVmCapture(capture);
  const out = path.join(dir, 'vm.html');

  const ok = cli(['report', capture, '--html', out]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, '', 'the page, not the text report');
  assert.match(ok.stderr, /^wrote .*vm\.html \(\d+ KiB\)\n$/);
  assert.match(fs.readFileSync(out, 'utf8'), /^<!doctype html>/);

  fs.writeFileSync(out, 'keep me');
  oneLine(cli(['report', capture, '--html', out]), 1, /vm\.html exists; use --force to overwrite it/);
  assert.equal(fs.readFileSync(out, 'utf8'), 'keep me', 'untouched without --force');
  assert.equal(cli(['report', capture, '--html', out, '--force']).status, 0);
  assert.match(fs.readFileSync(out, 'utf8'), /^<!doctype html>/, 'replaced with --force');

  const before = fs.readFileSync(capture);
  oneLine(cli(['report', capture, '--html', capture, '--force']), 1, /is the capture itself/);
  assert.ok(fs.readFileSync(capture).equals(before), 'the capture is never overwritten');
  oneLine(cli(['report', capture, '--html', dir, '--force']), 1, /is a directory/);
  oneLine(cli(['report', capture, '--html', path.join(dir, 'no', 'such', 'dir.html')]), 1, /no such file or directory/i);
  oneLine(cli(['report', capture, '--force']), 1, /--force only applies to --html/);

  const missing = path.join(dir, 'missing.html');
  oneLine(cli(['report', path.join(dir, 'none.iotrace'), '--html', missing]), 1, /none\.iotrace/);
  const garbage = path.join(dir, 'garbage.iotrace');
  fs.writeFileSync(garbage, 'not a capture at all');
  oneLine(cli(['report', garbage, '--html', missing]), 1, /not an iommutrace capture/);
  assert.ok(!fs.existsSync(missing), 'no page for a capture that cannot be read');
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left behind');

  // --json still prints the report's JSON beside the page.
  const both = cli(['report', capture, '--html', out, '--force', '--json']);
  assert.equal(both.status, 0, both.stderr);
  assert.equal(JSON.parse(both.stdout).format, 'iommutrace-report/1');
});

test('report --html: self-contained (a policy that fetches nothing, no external reference) and capture text cannot break out', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-page-'));
  const capture = path.join(dir, 'hostile.iotrace');
  writeVmCapture(capture, '</script><img src=x onerror=alert(1)><!--');
  assert.ok(readCaptureFile(capture).events > 0);
  const out = path.join(dir, 'hostile.html');
  assert.equal(cli(['report', capture, '--html', out]).status, 0);
  const page = fs.readFileSync(out, 'utf8');
  assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">/);
  assert.doesNotMatch(page, /<(script|img|link|iframe)\b[^>]*\b(src|href)=/i, 'nothing loaded from elsewhere');
  assert.equal(page.match(/<\/script>/g)?.length, 3, 'only the data, uPlot and the page script close');
  assert.ok(!page.includes('<img src=x'), 'the hostile name is escaped');
  const json = page.match(/<script type="application\/json" id="data">(.*?)<\/script>/s)![1];
  assert.equal(JSON.parse(json).report.processes[0].comm, '</script><img src=x onerror=alert(1)><!--', 'and reads back as it was');
});

test('report --html: a storm of outstanding references is embedded by stack, counts whole, the page small', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-storm-'));
  const capture = path.join(dir, 'storm.iotrace');
  const w = new CaptureWriter(capture, header(['iommu.group_get', 'iommu.group_put']), { force: true });
  const N = 30_000;
  for (let i = 0; i < N; i++) {
    // 600 distinct stacks, more than the page keeps apart.
    w.add({ kind: 'group_ref', ts_ns: 1000 + i, pid: 7, tid: 7, probe: 'iommu.group_get', ret: 0, comm: 'storm', group: 0xffff0003n, group_id: 3, nr_frames: 2, dev_name: DEVICE, stack: [0xffffffffc0000000n + BigInt(i % 600), 0xffffffff81000000n] });
  }
  w.close({ endNs: 2_000_000, lost: 0, stopReason: 'duration' });
  const out = path.join(dir, 'storm.html');
  const r = cli(['report', capture, '--html', out]);
  assert.equal(r.status, 0, r.stderr);
  const page = fs.readFileSync(out, 'utf8');
  assert.ok(page.length < 1 << 20, `${page.length} bytes`);
  const data = JSON.parse(page.match(/<script type="application\/json" id="data">(.*?)<\/script>/s)![1]) as { report: PageReport };
  const leaked = data.report.groups[0].leaked;
  assert.equal(leaked.length, MAX_SITES);
  assert.equal(leaked.reduce((a, s) => a + s.count, 0), N, 'every reference counted');
  assert.equal(leaked[leaked.length - 1].taker, '(other stacks)');
  assert.equal(leaked[0].count, N / 600);
});
