import * as assert from 'node:assert/strict';
import * as blessed from 'blessed';
import * as fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { rowKey } from '../../src/aggregate/per-device';
import { RateTracker } from '../../src/aggregate/rates';
import { AttachEvent, DmaEvent, PinEvent, ProbeName, RawEvent } from '../../src/events/types';
import { parseAnsi, toHtml, toPlain } from '../tui/ansi';
import { describeEvent, EventLog } from '../../src/tui/eventlog';
import { compact, fit, sparkline } from '../../src/tui/format';
import { headerLine } from '../../src/tui/header';
import { DEFAULT_LAYOUT, LayoutError, loadLayout, pickScreen, place, validateLayout } from '../../src/tui/layout';
import { Model, View } from '../../src/tui/model';
import { ago, chartUnit, downsample, RatesPanel, SparklinesPanel, yAxis } from '../../src/tui/rates';
import { fitColumns, TableState } from '../../src/tui/table';
import { ProcessesPanel } from '../../src/tui/processes';
import { wrap } from '../../src/tui/log';

const base = { pid: 10, tid: 10, type: 0, ret: 0, comm: 'qemu' };
const attach = (ts: number, dev: string, group: number, domain: bigint, pid = 10): AttachEvent => ({
  ...base, pid, kind: 'attach', probe: 'iommu.attach_dev', ts_ns: ts, lat_ns: 1000, domain, group: 0x1000n + BigInt(group), domain_type: 1, group_id: group, dev_name: dev, driver: 'vfio-pci',
});
const map = (ts: number, domain: bigint, bytes: number, lat: number): DmaEvent => ({
  ...base, kind: 'dma', probe: 'iommu.map', ts_ns: ts, lat_ns: lat, domain, iova: 0n, size: bytes, done: bytes, group_id: -1, pad: 0,
});
const pin = (ts: number, probe: ProbeName, pages: number, pid: number): PinEvent => ({
  ...base, pid, kind: 'pin', probe, ts_ns: ts, lat_ns: 100, addr: 0n, nr_pages: pages, pinned: pages,
});

test('RateTracker: per-second rates between samples, history bounded, resets and new counters count from 0', () => {
  const r = new RateTracker(3);
  r.sample(0, [['a', 0]]);
  assert.equal(r.rate('a'), 0);
  r.sample(2e9, [['a', 10]]);
  assert.equal(r.rate('a'), 5);
  r.sample(2e9, [['a', 99]]); // time did not move: ignored
  assert.equal(r.rate('a'), 5);
  r.sample(3e9, [['a', 10], ['b', 4]]);
  assert.deepEqual(r.history('a'), [5, 0]);
  assert.equal(r.rate('b'), 4);
  r.sample(4e9, [['a', 3]]); // went backwards: the owner was reset
  assert.equal(r.rate('a'), 3);
  r.sample(5e9, [['a', 3]]);
  assert.deepEqual(r.history('a'), [0, 3, 0]);
  r.reset();
  assert.equal(r.rate('a'), 0);
});

test('per device: map latency per device (unknown domains apart), pins credited to the attaching process', () => {
  const agg = new Aggregator({ attached: new Set(['iommu.attach_dev', 'iommu.map', 'vfio.pin']), symbolize: String, leakAgeNs: 1e9 });
  const d = agg.perDevice;
  const events: RawEvent[] = [
    attach(1, '0000:00:03.0', 3, 0xd3n, 10),
    attach(2, '0000:00:04.0', 4, 0xd4n, 20),
    map(3, 0xd3n, 4096, 5000),
    map(4, 0xd3n, 4096, 7000),
    map(5, 0xd4n, 8192, 1000),
    map(6, 0xeen, 4096, 3000),
    pin(7, 'vfio.pin', 512, 10),
    pin(8, 'vfio.unpin', 12, 10),
    pin(9, 'vfio.pin', 8, 99),
  ];
  for (const e of events) agg.add(e);
  assert.equal(d.mapLatency.get('0000:00:03.0')?.count, 2);
  assert.equal(d.mapLatency.get('0000:00:04.0')?.max, 1000);
  const unknown = agg.devices.list().find((r) => r.device === 'unknown')!;
  assert.equal(rowKey(unknown), 'unknown:ee');
  assert.equal(d.mapLatency.get(rowKey(unknown))?.count, 1);
  assert.equal(d.pinned.get('0000:00:03.0'), 500);
  assert.equal(d.pinned.get('0000:00:04.0'), undefined);
  assert.equal(d.unattributedPins, 8);
  // Existing behaviour is untouched.
  assert.equal(agg.devices.list().find((r) => r.device === '0000:00:03.0')?.map_bytes, 8192);
});

test('the shipped layout is valid; the compact screen is chosen below 120x36; cells tile without gaps', () => {
  const layout = loadLayout(DEFAULT_LAYOUT);
  assert.equal(pickScreen(layout, 160, 48).name, 'full');
  assert.equal(pickScreen(layout, 80, 24).name, 'compact');
  for (const s of layout.screens) {
    const area = s.widgets.map((w) => place(w, s.grid, 157, 45)).reduce((n, r) => n + r.width * r.height, 0);
    assert.equal(area, 157 * 45, `${s.name} covers the body exactly`);
  }
});

test('bad layouts name the first problem', () => {
  const screen = (widgets: unknown[], extra = {}) => ({ format: 'iommutop-layout/1', screens: [{ name: 's', grid: { rows: 2, cols: 2 }, widgets, ...extra }] });
  const w = (o: object) => ({ kind: 'gup', row: 0, col: 0, rowSpan: 1, colSpan: 1, ...o });
  const cases: [unknown, RegExp][] = [
    [{ format: 'x', screens: [] }, /format: expected "iommutop-layout\/1"/],
    [screen([w({ kind: 'pie' })]), /widgets\[0\]\.kind: "pie" is not one of devices/],
    [screen([w({ row: 2 })]), /widgets\[0\]\.row: expected an integer from 0 to 1/],
    [screen([w({ colSpan: 3 })]), /colSpan: expected an integer from 1 to 2/],
    [screen([w({}), w({})]), /widgets\[1\] overlaps widgets\[0\] at row 0, col 0/],
    [screen([w({ kind: 'devices', metrics: ['bogus'] })]), /"bogus" is not a metric of devices/],
    [screen([w({ colour: 'red' })]), /unknown key "colour"/],
    [screen([w({})], { min: { cols: 80, rows: 24 } }), /the last screen is the fallback/],
  ];
  for (const [data, re] of cases) assert.throws(() => validateLayout(data), (e: Error) => e instanceof LayoutError && re.test(e.message), String(re));
  const file = `${fs.mkdtempSync('/tmp/layout-')}/l.json`;
  fs.writeFileSync(file, '{');
  assert.throws(() => loadLayout(file), /^LayoutError: layout .*l\.json: not valid JSON|layout .*: not valid JSON/);
});

function view(over: Partial<View> = {}): View {
  const src = {
    kind: 'replay' as const, host: 'lab', kernelRelease: '6.1.0-56-amd64', attached: new Set<string>(), events: 0,
    probes: [
      { name: 'iommu.map', target: 'iommu_map', mode: 'fexit', status: 'attached', reason: null },
      { name: 'dirty.walk', target: null, mode: null, status: 'unavailable', reason: 'not in this kernel' },
    ],
    now: () => 5e9, lost: () => 0, symbolize: String, start() {}, pause() {}, resume() {}, stop: () => 0,
  };
  return { ...new Model(src, 1e9).view({ paused: false, ended: false, cpuPct: 1.25 }), ...over };
}

test('the header keeps probes, lost events and CPU at 80 columns and highlights lost events', () => {
  const wide = headerLine(view(), 160);
  assert.match(wide, /host lab/);
  assert.match(wide, /probes \{green-fg\}1 attached\{\/green-fg\}, \{yellow-fg\}1 unavailable\{\/yellow-fg\} \(u\)/);
  const narrow = headerLine(view({ lost: 12, paused: true }), 80);
  const plain = narrow.replace(/\{[^}]*\}/g, '');
  assert.ok(plain.length <= 80, plain);
  assert.match(plain, /probes 1\/2 \(u\)/);
  assert.match(plain, /lost 12/);
  assert.match(narrow, /red-bg/);
  assert.match(plain, /cpu 1\.3%/);
  assert.match(plain, /PAUSED\s*$/);
});

test('the header counts a probe whose module was unloaded as detached, not unavailable; kernel strings cannot reach the terminal raw', () => {
  const base = view();
  const probes = [...base.probes, { name: 'vfio.pin', target: 'vfio_pin_pages_remote', mode: 'fexit', status: 'detached', reason: 'module vfio_iommu_type1 was unloaded 9.0 s into the capture' }];
  const line = headerLine({ ...base, probes, host: 'evil\x1b]52;c;cHduZWQ=\x07{red-fg}' }, 200);
  assert.match(line, /1 attached\{\/green-fg\}, \{yellow-fg\}1 unavailable\{\/yellow-fg\}\{red-fg\}, 1 detached\{\/red-fg\} \(u\)/);
  assert.doesNotMatch(line, /[\u0000-\u001f]/, 'no raw control character');
  assert.match(line, /host evil\?\]52;c;cHduZWQ=\?\{open\}red-fg\{close\}/, 'controls shown as ?, tags escaped');
});

test('tables sort by column both ways and keep the selection on its row', () => {
  type R = { k: string; n: number };
  const t = new TableState<R>(
    [
      { id: 'k', title: 'K', width: 3, align: 'left', flex: true, text: (r) => r.k, key: (r) => r.k },
      { id: 'n', title: 'N', width: 4, align: 'right', text: (r) => String(r.n), key: (r) => r.n },
    ],
    (r) => r.k,
    'n',
  );
  t.setRows([{ k: 'a', n: 1 }, { k: 'b', n: 3 }, { k: 'c', n: 2 }]);
  assert.equal(t.selected?.k, 'b');
  t.move(1);
  assert.equal(t.selected?.k, 'c');
  const rows = (): string[] => t.render(10, 10, false).slice(1).map((l) => l.replace(/\{[^}]*\}/g, '').trim()[0]);
  assert.deepEqual(rows(), ['b', 'c', 'a']);
  t.sort(true);
  t.setRows([{ k: 'a', n: 1 }, { k: 'b', n: 3 }, { k: 'c', n: 2 }]);
  assert.deepEqual(rows(), ['a', 'c', 'b']);
  t.sort(false);
  t.setRows([{ k: 'a', n: 1 }, { k: 'b', n: 3 }, { k: 'c', n: 2 }]);
  assert.equal(t.sortColumn.id, 'k');
  assert.deepEqual(rows(), ['a', 'b', 'c']);
  assert.equal(t.selected?.k, 'c');
  assert.deepEqual(fitColumns(t.columns, 6).map((c) => c.width), [6], 'what does not fit is dropped, the flex column widened');
});

test('the event log lists attaches, failures and faults, not traffic, and keeps the newest', () => {
  assert.match(describeEvent(attach(1, '0000:00:03.0', 3, 0xd3n), true)!.text, /^qemu\[10\] attach 0000:00:03\.0 \(vfio-pci\) domain 0xd3$/);
  assert.equal(describeEvent(map(1, 0xd3n, 4096, 10), true), undefined);
  const failed = describeEvent({ ...map(1, 0xd3n, 4096, 10), ret: -12 }, true)!;
  assert.equal(failed.level, 'error');
  assert.match(failed.text, /iommu\.map failed ENOMEM/);
  const log = new EventLog(2);
  for (const t of ['a', 'b', 'c']) log.push({ ts_ns: 0, level: 'info', text: t });
  assert.deepEqual(log.entries.map((e) => e.text), ['b', 'c']);
});

test('ANSI from tmux becomes plain text and HTML with its colours', () => {
  const lines = parseAnsi('\x1b[1mbold\x1b[0m \x1b[31mred\x1b[39m \x1b[38;5;242mgrey\x1b[m \x1b[7minv\x1b[27m <x>\nline2\n');
  assert.equal(toPlain(lines), 'bold red grey inv <x>\nline2');
  const html = toHtml(lines, 't');
  assert.match(html, /font-weight:bold">bold</);
  assert.match(html, /color:#cd3131">red</);
  assert.match(html, /color:#6c6c6c">grey</);
  assert.match(html, /background:#d0d0d0">inv</);
  assert.match(html, /&lt;x&gt;/);
  assert.match(toHtml(parseAnsi('a⡇⠒b'), 't'), /a<span class="cell">⡇<\/span><span class="cell">⠒<\/span>b/, 'braille held to the grid');
});

test('formatting helpers', () => {
  assert.equal(compact(0), '0');
  assert.equal(compact(12), '12');
  assert.equal(compact(1234), '1.2k');
  assert.equal(compact(56_000_000), '56M');
  assert.equal(fit('abcdef', 4), 'abc…');
  assert.equal(fit('ab', 4, 'right'), '  ab');
  assert.equal(sparkline([0, 1, 2, 4], 6), '   ▂▄█');
});

test('rate charts: round y axes in the series\' unit, time labels, averaging to fit', () => {
  assert.deepEqual(yAxis(900, 2), { step: 500, top: 1000, maxY: 1250 });
  assert.deepEqual(yAxis(3.2, 3), { step: 2, top: 4, maxY: 5 });
  assert.deepEqual(yAxis(0.12, 2), { step: 0.1, top: 0.2, maxY: 0.25 });
  assert.deepEqual(yAxis(0, 3), { step: 1, top: 1, maxY: 1.5 }, 'an idle series still has an axis');
  assert.deepEqual(chartUnit('count', 800_000, 'events'), { div: 1000, unit: 'k events/s' });
  assert.deepEqual(chartUnit('count', 12, 'maps'), { div: 1, unit: 'maps/s' });
  assert.deepEqual(chartUnit('bytes', 3 * 2 ** 20, 'mapped'), { div: 2 ** 20, unit: 'mapped MiB/s' });
  assert.equal(ago(0), 'now');
  assert.equal(ago(45e9), '-45s');
  assert.equal(ago(150e9), '-2m30');
  assert.equal(ago(1.5e9, true), '-1.5s');
  assert.deepEqual(downsample([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], 2), { y: [1.5, 4], t: [20, 50] }, 'groups end at the newest sample');
  assert.deepEqual(downsample([1, 2], [1, 2], 10), { y: [1, 2], t: [1, 2] });
});

/** A blessed screen writing into a discarded stream: panels render into screen.lines, as in a terminal. */
function offscreen(cols: number, rows: number): { screen: blessed.Widgets.Screen; text: () => string[] } {
  const output = Object.assign(new PassThrough(), { columns: cols, rows, isTTY: true });
  output.resume();
  const screen = blessed.screen({ input: new PassThrough(), output: output as unknown as NodeJS.WriteStream, terminal: 'xterm-256color', warnings: false, fullUnicode: true });
  const lines = (): string[] => (screen as unknown as { lines: [unknown, string][][] }).lines.map((l) => l.map((c) => c[1]).join(''));
  return { screen, text: lines };
}

/** A model fed `seconds` of iommu.map traffic rising and falling each 10 s, viewed once a second. */
function trafficView(seconds: number): View {
  let now = 0;
  const src = {
    kind: 'replay' as const, host: 'lab', kernelRelease: '6.1', attached: new Set(['iommu.map']), events: 0, probes: [],
    now: () => now, lost: () => 0, symbolize: String, start() {}, pause() {}, resume() {}, stop: () => 0,
  };
  const m = new Model(src, 1e9);
  let v = m.view({ paused: false, ended: false, cpuPct: 0 });
  for (let i = 0; i < seconds; i++) {
    for (let k = 0; k < (i % 10) * 100; k++) m.add(map(now + k, 0xd3n, 4096, 1000));
    now += 1e9;
    v = m.view({ paused: false, ended: false, cpuPct: 0 });
  }
  assert.equal(v.sampleTimes.length, v.rates.history('events').length, 'one sample time per rate sample');
  assert.equal(v.sampleTimes[v.sampleTimes.length - 1], now);
  return v;
}

const BRAILLE = /[\u2801-\u28ff]/;

test('the Rates panel draws the chosen series with blessed-contrib\'s line chart; ↑↓ switch series; small cells get sparklines', (t) => {
  const { screen, text } = offscreen(80, 14);
  t.after(() => screen.destroy());
  const v = trafficView(40);
  const spec = { kind: 'rates' as const, row: 0, col: 0, rowSpan: 1, colSpan: 1, metrics: [] };
  const p = new RatesPanel(screen, spec);
  p.place({ top: 0, left: 0, width: 80, height: 12 });
  p.update(v);
  screen.render();
  let s = text();
  assert.match(s[0], /Rates · events\/s, last 3\ds/, s.join('\n'));
  const chart = s.slice(1, 11).map((l) => l.slice(2, 52));
  assert.ok(chart.filter((l) => BRAILLE.test(l)).length >= 6, `braille dots on most chart rows:\n${s.join('\n')}`);
  assert.match(chart[0], /^1000⡇/, 'the top y label and the axis');
  assert.match(chart.join('\n'), /^0 +⡇/m, 'the zero label');
  assert.match(chart.join('\n'), /-\d+s +-\d+s/, 'the time axis');
  assert.ok(s.slice(1, 11).every((l) => l.length === 80 && l.endsWith('│')), 'nothing spills over the border');
  assert.match(s[1], /▸ events +900\/s │$/);
  assert.match(s.join('\n'), /peak 900\/s/);
  assert.ok(p.key('down'));
  p.update(v);
  screen.render();
  s = text();
  assert.match(s[0], /Rates · mapped MiB\/s/);
  assert.match(s[2], /▸ mapped +3\.5 MiB\/s/);

  // 40 columns: one sparkline per series, no chart.
  p.place({ top: 0, left: 0, width: 40, height: 8 });
  p.update(v);
  screen.render();
  s = text().slice(0, 8).map((l) => l.slice(0, 40));
  assert.ok(!s.some((l) => BRAILLE.test(l)), s.join('\n'));
  assert.match(s.find((l) => l.includes('events'))!, /events +[▁▂▃▄▅▆▇█ ]*[▁▂▃▄▅▆▇█][▁▂▃▄▅▆▇█ ]* +900\/s/);

  // The sparklines kind never charts.
  const q = new SparklinesPanel(screen, { ...spec, kind: 'sparklines' });
  q.place({ top: 0, left: 0, width: 80, height: 12 });
  q.update(v);
  screen.render();
  s = text().slice(0, 12);
  assert.ok(!s.some((l) => BRAILLE.test(l)), s.join('\n'));
  assert.equal(q.focusable, false);
});

test('the processes panel: VM (or comm), pid, MiB mapped, pinned pages, rate and mapping time, within its width; the default layout has it on both screens', (t) => {
  const { screen, text } = offscreen(80, 10);
  t.after(() => screen.destroy());
  const src = {
    kind: 'replay' as const, host: 'lab', kernelRelease: '6.1', attached: new Set(['iommu.map', 'vfio.pin']), events: 0, probes: [],
    now: () => 3e9, lost: () => 0, symbolize: String, start() {}, pause() {}, resume() {}, stop: () => 0,
    processFacts: (pid: number) => (pid === 42 ? { pid, vm: 'vm-alpha', cgroup: '/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2dalpha.scope' } : undefined),
  };
  const m = new Model(src, 1e9);
  m.add({ ...map(1e9, 0xd3n, 1 << 30, 1000), pid: 42, comm: 'qemu-system-x86' });
  m.add({ ...map(3e9, 0xd3n, 1 << 30, 1000), pid: 42, comm: 'qemu-system-x86' });
  m.add(pin(3e9, 'vfio.pin', 524288, 42));
  m.add({ ...map(2e9, 0xd3n, 4096, 1000), pid: 77, comm: 'dpdk' });
  const v = m.view({ paused: false, ended: false, cpuPct: 0 });
  const spec = { kind: 'processes' as const, row: 0, col: 0, rowSpan: 1, colSpan: 1, metrics: ['vm', 'pid', 'mapped', 'pinned', 'rate', 'mapping'] };
  const p = new ProcessesPanel(screen, spec);
  p.place({ top: 0, left: 0, width: 60, height: 6 });
  p.update(v, { filter: '' });
  screen.render();
  const s = text().slice(0, 6).map((l) => l.slice(0, 60));
  assert.match(s[0], /Processes · 2 · 1 VM/);
  assert.match(s[2], /│ vm-alpha +42 +2048\.0 +524,288 +1024\.0 +2\.0s │/, s.join('\n'));
  assert.match(s[3], /│ dpdk +77 +0\.0 +0 +- +0ns │/, 'one map: no rate, no mapping time; no VM: its comm');
  assert.ok(s.every((l) => l.length <= 60));
  assert.match(p.details()!.body, /cgroup +\/machine\.slice\/machine-qemu/);
  for (const sc of loadLayout(DEFAULT_LAYOUT).screens) assert.ok(sc.widgets.some((w) => w.kind === 'processes'), `${sc.name} shows processes`);
});

test('the event log wraps a long line at a space, up to three rows, the last cut with an ellipsis', () => {
  const line = 'vm-alpha: MAP_DMA 3.0 MiB refused: locked memory 3.0 MiB of 4.0 MiB limit';
  assert.deepEqual(wrap(line, 80), [line.padEnd(80)], 'fits: one row');
  assert.deepEqual(wrap(line, 50).map((r) => r.trimEnd()), ['vm-alpha: MAP_DMA 3.0 MiB refused: locked memory', '3.0 MiB of 4.0 MiB limit']);
  const rows = wrap('x'.repeat(200), 40);
  assert.deepEqual(rows.map((r) => r.length), [40, 40, 40], 'no space: cut at the width, three rows at most');
  assert.ok(rows[2].endsWith('…'));
});
