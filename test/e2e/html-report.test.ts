/**
 * `report --html` in a real browser: headless Chromium opens the page with no
 * network; it must load without console errors, ask for nothing but itself, and
 * show the figures `report --json` gives. A screenshot of each section is kept in
 * build/e2e-html/NAME/ (the README's come from there).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test, type TestContext } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import type { TimelineData } from '../../src/report/html/timeline';
import { ROOT, need } from '../helpers';
import { TAKER, VM, writeVmCapture } from '../html-capture';
import { labCapture } from '../lab/captures';
import { Browser, CHROMIUM } from './browser';
import { cli } from './cli';

const SECTIONS = ['header', 'timeline', 'latency', 'shape', 'groups', 'tables'];
const OUT = path.join(ROOT, 'build', 'e2e-html');

/** "600.0 MiB" -> bytes, as the page prints them. */
function parseBytes(text: string): number {
  const m = /^(-?[\d.]+) (B|KiB|MiB|GiB|TiB)$/.exec(text);
  assert.ok(m, `"${text}" is an amount of bytes`);
  return Number(m[1]) * 1024 ** ['B', 'KiB', 'MiB', 'GiB', 'TiB'].indexOf(m[2]);
}

/** The page's rendering is within its rounding (3 significant digits) of the exact value. */
function shows(text: string, exact: number, what: string): void {
  const v = parseBytes(text);
  assert.ok(Math.abs(v - exact) <= Math.max(0.5, exact * 0.005), `${what}: the page shows ${text}, the report ${exact}`);
}

type Row = Record<string, { value: string; text: string }>;
const ROWS = (id: string): string =>
  `[...document.querySelectorAll('#${id} tbody tr')].map((tr) => Object.fromEntries([...tr.children].map((td) => [td.dataset.key, { value: td.dataset.value, text: td.textContent }])))`;

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Opens the page and waits until its script has drawn every section. */
async function openDrawn(b: Browser, url: string): Promise<void> {
  await b.open(url);
  const deadline = Date.now() + 30_000;
  while ((await b.evaluate('document.body.dataset.ready')) !== 'true') {
    assert.ok(Date.now() < deadline, `the page never finished drawing; errors: ${b.errors.join('; ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Expect {
  vm: string;
  taker: string;
}

/** Writes the page of `capture`, opens it in Chromium and checks it against `report --json`; keeps a screenshot per section. */
async function checkPage(t: TestContext, capture: string, name: string, expect: Expect): Promise<void> {
  const dir = path.join(OUT, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const page = path.join(dir, 'report.html');
  const w = cli(['report', capture, '--html', page]);
  assert.equal(w.status, 0, w.stderr);
  const json = cli(['report', capture, '--json']);
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as Report;
  const size = fs.statSync(page).size;
  assert.ok(size < 4 << 20, `${size} bytes: a few MB at most`);

  const b = new Browser(1280, 900);
  try {
    const url = `file://${page}`;
    await openDrawn(b, url);
    assert.deepEqual(b.errors, [], 'no console error');
    assert.deepEqual(b.requests, [url], 'the page asked for nothing but itself');

    // Header: host, kernel, what was not watched, loss.
    const facts = await b.evaluate<Record<string, string>>(`Object.fromEntries([...document.querySelectorAll('#facts dd')].map((d) => [d.dataset.fact, d.textContent]))`);
    assert.equal(facts.host, report.capture.host);
    assert.match(facts.kernel, new RegExp(`^${report.capture.kernel.release.replace(/[.+]/g, '\\$&')}`));
    assert.match(facts.events, new RegExp(`${report.events.lost.toLocaleString('en-US')} lost`));
    for (const s of report.not_watched) assert.ok(facts['not watched'].split(', ').includes(s), `${s} shown as not watched`);

    // Devices: bytes per device, as the report has them and as the page prints them.
    const devices = await b.evaluate<Row[]>(ROWS('devices-table'));
    assert.deepEqual(devices.map((d) => d.device.value).sort(), report.devices.map((d) => d.device).sort());
    for (const d of report.devices) {
      const row = devices.find((r) => r.device.value === d.device)!;
      assert.equal(Number(row.map_bytes.value), d.map_bytes, `${d.device} map_bytes`);
      assert.equal(Number(row.unmap_bytes.value), d.unmap_bytes, `${d.device} unmap_bytes`);
      shows(row.map_bytes.text, d.map_bytes, `${d.device} mapped`);
      shows(row.unmap_bytes.text, d.unmap_bytes, `${d.device} unmapped`);
    }

    // The VM: its name and bytes in the processes table, and its ramp in the timeline.
    const vmRow = report.processes.find((p) => p.vm === expect.vm);
    assert.ok(vmRow, `the report names VM ${expect.vm}`);
    const processes = await b.evaluate<Row[]>(ROWS('processes-table'));
    const shown = processes.find((r) => r.vm.value === expect.vm);
    assert.ok(shown, `the page lists VM ${expect.vm}`);
    assert.equal(shown.vm.text, expect.vm);
    assert.equal(Number(shown.pid.value), vmRow.pid);
    shows(shown.map_bytes.text, vmRow.map_bytes, `${expect.vm} mapped`);
    assert.equal(shown.pinned_pages.text, vmRow.pinned_pages.toLocaleString('en-US'));

    // The timeline's bins sum to the report's totals, per device and for the VM.
    const tl = await b.evaluate<TimelineData>(`JSON.parse(document.getElementById('data').textContent).timeline`);
    for (const d of report.devices.filter((x) => x.map_bytes || x.unmap_bytes)) {
      const s = tl.devices.find((x) => x.key === d.device);
      assert.ok(s, `${d.device} is on the timeline`);
      assert.deepEqual([sum(s.map_bytes), sum(s.unmap_bytes)], [d.map_bytes, d.unmap_bytes], `${d.device} on the timeline`);
    }
    const vmSeries = tl.processes.find((p) => p.key === String(vmRow.pid))!;
    assert.match(vmSeries.label, new RegExp(`^${expect.vm}: `));
    assert.deepEqual([sum(vmSeries.map_bytes), sum(vmSeries.pinned_pages)], [vmRow.map_bytes, vmRow.pinned_pages]);
    const legend = await b.evaluate<string[]>(`[...document.querySelectorAll('#chart-mapped .u-legend .u-label')].map((l) => l.textContent)`);
    for (const d of report.devices.filter((x) => x.map_bytes)) assert.ok(legend.includes(d.device), `${d.device} in the chart's legend: ${legend}`);
    // The VM's series by name once "per process" is picked.
    await b.evaluate(`document.getElementById('by-process').click()`);
    const byProcess = await b.evaluate<string[]>(`[...document.querySelectorAll('#chart-mapped .u-legend .u-label')].map((l) => l.textContent)`);
    assert.ok(byProcess.some((l) => l.startsWith(`${expect.vm}: `)), `the VM in the legend: ${byProcess}`);
    await b.evaluate(`document.getElementById('by-device').click()`);

    // The leaked reference's taker: in the groups table and on the icicle, marked leaked.
    const leaked = report.groups.flatMap((g) => g.leaked.map((r) => r.taker));
    assert.ok(leaked.some((x) => x.startsWith(expect.taker)), `the report's leak is ${expect.taker}: ${leaked}`);
    const groups = await b.evaluate<Row[]>(ROWS('groups-table'));
    for (const g of report.groups) {
      const row = groups.find((r) => Number(r.group.value) === g.group)!;
      assert.deepEqual([row.outstanding.value, row.leaked_n.value].map(Number), [g.outstanding, g.leaked.length], `group ${g.group}`);
      for (const x of g.leaked) assert.ok(row.takers.text.includes(x.taker), `group ${g.group} leaked by ${x.taker}`);
    }
    const frames = await b.evaluate<{ frame: string; leaked: number }[]>(`[...document.querySelectorAll('#icicle g[data-taker="leaked"]')].map((g) => ({ frame: g.dataset.frame, leaked: Number(g.dataset.leaked) }))`);
    for (const x of new Set(leaked)) {
      const f = frames.find((y) => y.frame === x);
      assert.ok(f, `${x} on the icicle`);
      assert.equal(f.leaked, report.groups.flatMap((g) => g.leaked).filter((r) => r.taker === x).length);
    }

    // Refused maps: each group's cause, errno and count.
    const failures = await b.evaluate<Row[]>(ROWS('failures-table'));
    const key = (r: { pid: unknown; api: unknown; errno: unknown; cause: unknown; count: unknown }): string => [r.pid, r.api, r.errno, r.cause, r.count].join(' ');
    assert.deepEqual(failures.map((r) => key({ pid: r.pid.value, api: r.api.value, errno: r.errno.value, cause: r.cause.text, count: r.count.value })).sort(), report.map_failures.map(key).sort());
    assert.ok(report.map_failures.length > 0, 'the capture has refused maps');

    // IO page faults (every IOMMU's: faults[]): each device in the table, each fault marked on the timeline.
    if (!report.not_watched.includes('faults')) {
      const faults = await b.evaluate<Row[]>(ROWS('faults-table'));
      assert.deepEqual(faults.map((r) => [r.device.value, Number(r.count.value)]), report.faults.map((f) => [f.device, f.count]));
      assert.equal(tl.mark_counts.fault, report.faults.reduce((n, f) => n + f.count, 0));
    }

    // Probes with status and reason.
    const probes = await b.evaluate<Row[]>(ROWS('probes-table'));
    assert.deepEqual(
      probes.map((r) => [r.name.value, r.status.value, r.reason.text]),
      report.probes.map((p) => [p.name, p.status, p.reason ?? '-']),
    );

    // Latency: every probe's percentiles.
    const latency = await b.evaluate<Row[]>(ROWS('latency-table'));
    for (const [probe, p] of Object.entries(report.latency)) {
      const row = latency.find((r) => r.probe.value === probe)!;
      assert.deepEqual([row.count.value, row.p50_ns.value, row.p99_ns.value].map(Number), [p.count, p.p50_ns, p.p99_ns], probe);
    }

    // Sorting: "mapped" puts the most bytes first.
    await b.evaluate(`document.querySelector('#devices-table th[data-key="map_bytes"]').click()`);
    const sorted = (await b.evaluate<Row[]>(ROWS('devices-table'))).map((r) => Number(r.map_bytes.value));
    assert.deepEqual(sorted, [...sorted].sort((x, y) => y - x));

    const range = async (id: string): Promise<[number, number]> => {
      const r = await b.evaluate<{ min: string; max: string }>(`(() => { const d = document.getElementById('${id}').dataset; return { min: d.xmin, max: d.xmax }; })()`);
      return [Number(r.min), Number(r.max)];
    };
    const over = await b.evaluate<{ x: number; y: number; width: number; height: number }>(
      `(() => { document.getElementById('chart-mapped').scrollIntoView(); const r = document.querySelector('#chart-mapped .u-over').getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; })()`,
    );
    const [min0, max0] = await range('chart-mapped');
    const y = over.y + over.height / 2;
    // Hover (in the first view, where things happened): on the busiest device's highest bin, the legend shows the time and the bytes mapped then.
    const busiest = tl.devices.reduce((a, x) => (sum(x.map_bytes) > sum(a.map_bytes) ? x : a));
    let level = 0;
    let top = { at: 0, level: -1 };
    busiest.map_bytes.forEach((m, i) => {
      level += m - busiest.unmap_bytes[i];
      if (level > top.level) top = { at: ((i + 1) * tl.bin_ns) / 1e9, level };
    });
    const hx = over.x + ((top.at - min0) / (max0 - min0)) * over.width;
    await b.mouse('mouseMoved', hx, y);
    const values = await b.evaluate<string[][]>(`[...document.querySelectorAll('#chart-mapped .u-legend .u-series')].map((s) => [s.querySelector('.u-label').textContent, s.querySelector('.u-value').textContent])`);
    const hovered = values.find(([label]) => label === busiest.label);
    assert.ok(hovered && /^[\d.]+ s$/.test(values[0][1]), `the legend shows values on hover: ${JSON.stringify(values)}`);
    assert.ok(parseBytes(hovered[1]) > 0, `${busiest.label} has bytes mapped at its peak: ${hovered[1]}`);

    await b.screenshot('#timeline', path.join(dir, 'timeline.png'));

    // Zoom: a drag narrows both charts to the same range; a double-click shows the whole capture again.
    await b.mouse('mouseMoved', over.x + over.width * 0.25, y);
    await b.mouse('mousePressed', over.x + over.width * 0.25, y, 1);
    await b.mouse('mouseMoved', over.x + over.width * 0.75, y);
    await b.mouse('mouseReleased', over.x + over.width * 0.75, y, 1);
    const [min1, max1] = await range('chart-mapped');
    assert.ok(min1 > min0 && max1 < max0 && Math.abs((max1 - min1) / (max0 - min0) - 0.5) < 0.05, `zoomed from [${min0}, ${max0}] to [${min1}, ${max1}]`);
    assert.deepEqual(await range('chart-pinned'), [min1, max1], 'the pinned chart follows');
    await b.mouse('mousePressed', over.x + over.width / 2, y, 2);
    await b.mouse('mouseReleased', over.x + over.width / 2, y, 2);
    const [min2, max2] = await range('chart-mapped');
    assert.ok(min2 <= 0 && max2 >= report.capture.duration_ns / 1e9 - 1e-6, `double-click shows the whole capture: [${min2}, ${max2}]`);

    // Hovering a refused map's line says what was refused.
    const refused = tl.marks.find((m) => m.kind === 'map_failure');
    if (refused) {
      await b.mouse('mouseMoved', over.x + ((refused.ts_ns / 1e9 - min2) / (max2 - min2)) * over.width, y);
      const tip = await b.evaluate<{ shown: boolean; text: string }>(`(() => { const t = document.getElementById('mark-tip'); return { shown: getComputedStyle(t).display !== 'none', text: t.textContent }; })()`);
      assert.ok(tip.shown && tip.text.includes('refused'), `the mark's tip: ${JSON.stringify(tip)}`);
    }

    for (const s of SECTIONS.filter((x) => x !== 'timeline')) await b.screenshot(`#${s}`, path.join(dir, `${s}.png`));
    for (const s of SECTIONS) assert.ok(fs.statSync(path.join(dir, `${s}.png`)).size > 1000, `${s}.png written`);
    t.diagnostic(`${name}: ${size} bytes; screenshots in ${path.relative(ROOT, dir)}`);
  } finally {
    await b.close();
  }
}

let lab: { file?: string; why?: string } = {};
before(async () => {
  lab = await labCapture();
});

test('report --html of a synthetic VM capture in headless Chromium: figures equal report --json', async (t) => {
  if (!need(t, CHROMIUM !== undefined, 'no chromium (src/scripts/setup.sh installs it)')) return;
  fs.mkdirSync(OUT, { recursive: true });
  const capture = path.join(OUT, 'synthetic-vm.iotrace');
  writeVmCapture(capture);
  await checkPage(t, capture, 'synthetic-vm', { vm: VM.name, taker: TAKER });
});

test('report --html of the lab capture (vfio, gup, leak, qemu, refused maps) in headless Chromium: figures equal report --json', async (t) => {
  if (!need(t, CHROMIUM !== undefined, 'no chromium (src/scripts/setup.sh installs it)')) return;
  if (!need(t, lab.file !== undefined, lab.why ?? 'no lab capture')) return;
  await checkPage(t, lab.file!, 'lab', { vm: 'lab-vm', taker: 'iommutrace_leak_take' });
});

test('report --html of a capture with hostile names: shown as text in Chromium, never run', async (t) => {
  if (!need(t, CHROMIUM !== undefined, 'no chromium (src/scripts/setup.sh installs it)')) return;
  const dir = path.join(OUT, 'hostile');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const capture = path.join(dir, 'hostile.iotrace');
  const comm = '<img src=x onerror="document.title=1">';
  writeVmCapture(capture, comm);
  const page = path.join(dir, 'report.html');
  assert.equal(cli(['report', capture, '--html', page]).status, 0);
  const b = new Browser();
  try {
    await openDrawn(b, `file://${page}`);
    assert.deepEqual(b.errors, []);
    assert.deepEqual(b.requests, [`file://${page}`], 'the name loaded nothing');
    assert.notEqual(await b.evaluate('document.title'), '1', 'the name ran nothing');
    assert.equal(await b.evaluate('document.querySelectorAll("main img").length'), 0, 'and made no element');
    const rows = await b.evaluate<Row[]>(ROWS('processes-table'));
    assert.equal(rows[0].comm.text, comm, 'it is shown as the text it is');
  } finally {
    await b.close();
  }
});
