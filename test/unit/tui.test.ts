import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { DeviceDetail, rowKey } from '../../src/aggregate/per-device';
import { RateTracker } from '../../src/aggregate/rates';
import { AttachEvent, DmaEvent, PinEvent, RawEvent } from '../../src/events/types';
import { parseAnsi, toHtml, toPlain } from '../../src/tui/ansi';
import { describeEvent, EventLog } from '../../src/tui/eventlog';
import { compact, fit, sparkline } from '../../src/tui/format';
import { headerLine } from '../../src/tui/header';
import { DEFAULT_LAYOUT, LayoutError, loadLayout, pickScreen, place, validateLayout } from '../../src/tui/layout';
import { Model, View } from '../../src/tui/model';
import { fitColumns, TableState } from '../../src/tui/table';

const base = { pid: 10, tid: 10, type: 0, ret: 0, comm: 'qemu' };
const attach = (ts: number, dev: string, group: number, domain: bigint, pid = 10): AttachEvent => ({
  ...base, pid, kind: 'attach', probe: 'iommu.attach_dev', ts_ns: ts, lat_ns: 1000, domain, group: 0x1000n + BigInt(group), domain_type: 1, group_id: group, dev_name: dev, driver: 'vfio-pci',
});
const map = (ts: number, domain: bigint, bytes: number, lat: number): DmaEvent => ({
  ...base, kind: 'dma', probe: 'iommu.map', ts_ns: ts, lat_ns: lat, domain, iova: 0n, size: bytes, done: bytes,
});
const pin = (ts: number, probe: string, pages: number, pid: number): PinEvent => ({
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

test('DeviceDetail: map latency per device (unknown domains apart), pins credited to the attaching process', () => {
  const agg = new Aggregator({ attached: new Set(['iommu.attach_dev', 'iommu.map', 'vfio.pin']), symbolize: String, leakAgeNs: 1e9 });
  const d = new DeviceDetail(agg.devices);
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
  for (const e of events) {
    agg.add(e);
    d.add(e);
  }
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
