import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { CATALOGUE } from '../../src/probes/catalogue';
import { failureReason } from '../../src/aggregate/map-failures';
import { buildReport } from '../../src/report/build';
import { formatBytes } from '../../src/util/duration';
import { Pane } from '../tui/tmux';
import { BPF_OBJECT, CLI, commandWorks, isRoot, need, ROOT, tracefs } from '../helpers';
import { labCapture } from '../lab/captures';
import { cli, hasStackTrace } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutop-e2e-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const count = (n: number): string => n.toLocaleString('en-US');
/** Generous: the tests wait for what the screen shows, never for a fixed time. */
const DEADLINE = 30_000;

const BDF3 = '0000:00:03.0';
const BDF4 = '0000:00:04.0';
const GROUP_PTR = 0xffff888012340000n;
const TAKER = 0xffffffffc0a01000n;
const CORE = 0xffffffff81234560n;

/**
 * A capture with two devices (03.0 maps less but slower than 04.0, so sorting by
 * volume and by latency disagree), GUP with a 75/25 fast/slow split, one group
 * reference that is never put, and an unavailable probe with its reason. Events
 * run over `seconds` of capture time, so a replay at speed 1 keeps moving.
 */
function syntheticCapture(file: string, seconds: number): void {
  const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
  const attached = ['iommu.attach_dev', 'iommu.map', 'iommu.unmap', 'iommu.group_get', 'iommu.group_put', 'gup.fast', 'vfio.pin', 'iommu.tp_add', 'vfio.map_dma'];
  const header: CaptureHeader = {
    toolVersion: '0.0.0-test',
    host: 'synthetic',
    kernelRelease: '6.1.0-56-amd64',
    bootId: '',
    btfFingerprint: '',
    btf: true,
    probes: [
      ...attached.map((name) => ({ name, target: name.replace('.', '_'), mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] })),
      { name: 'dirty.walk', target: '', mode: '', status: 'unavailable', reason: 'iova_bitmap_for_each is not in this kernel (CONFIG_IOMMUFD_DRIVER off)', module: '', lacks: [] },
    ],
    clockBaseNs: '1000',
    wallBaseUnixNs: 1795279426000000000,
    kinds: captureKinds(decoder),
    leakAgeNs: 5e9,
    lockdown: 'none',
    argv: ['record'],
  };
  const w = new CaptureWriter(file, header, { force: true });
  const hdr = (ts: number, probe: string, comm = 'qemu', pid = 300) => ({ ts_ns: ts, pid, tid: pid, ret: 0, comm, probe });
  const domain = (bdf: string): bigint => (bdf === BDF3 ? 0xffff888000003000n : 0xffff888000004000n);
  const add = (e: CaptureEvent): void => w.add(e);
  for (const [bdf, group] of [[BDF3, 3], [BDF4, 4]] as const) {
    add({ kind: 'iommu_tp', ...hdr(1000 + group, 'iommu.tp_add'), iova: 0n, group_id: group, flags: 0, dev_name: bdf, driver: 'vfio-pci' });
    add({ kind: 'attach', ...hdr(2000 + group, 'iommu.attach_dev'), lat_ns: 40_000, domain: domain(bdf), group: GROUP_PTR + BigInt(group), domain_type: 1, group_id: group, dev_name: bdf, driver: 'vfio-pci' });
  }
  const stack = [CORE, TAKER, ...Array(14).fill(0n)];
  // The leaked reference: taken at 0.5 s, never put.
  add({ kind: 'group_ref', ...hdr(500e6, 'iommu.group_get', 'insmod', 77), group: GROUP_PTR + 3n, group_id: 3, nr_frames: 2, dev_name: BDF3, stack });
  const step = 20e6;
  for (let t = 1e9, i = 0; t < seconds * 1e9; t += step, i++) {
    const dev = i % 3 === 0 ? BDF3 : BDF4;
    add({ kind: 'dma', ...hdr(t, 'iommu.map'), lat_ns: dev === BDF3 ? 9000 + (i % 7) * 100 : 2000 + (i % 5) * 50, domain: domain(dev), iova: BigInt(i) * 0x10000n, size: 65536, done: 65536 });
    if (i % 4 === 0) add({ kind: 'gup', ...hdr(t + 1, 'gup.fast'), ret: 16, lat_ns: 3000, start: 0x7f0000000000n, nr_pages: 16, gup_flags: 0, fast_pages: 12, fast_seen: 1 });
    if (i % 10 === 0) {
      // A balanced get/put pair: counted, never listed.
      add({ kind: 'group_ref', ...hdr(t + 2, 'iommu.group_get'), group: GROUP_PTR + 4n, group_id: 4, nr_frames: 2, dev_name: BDF4, stack });
      add({ kind: 'group_ref', ...hdr(t + 3, 'iommu.group_put'), group: GROUP_PTR + 4n, group_id: 4, nr_frames: 0, dev_name: '', stack: Array(16).fill(0n) });
    }
  }
  // vm-alpha's MAP_DMA refused at 1.5 s: 3 MiB more with 3 MiB locked under a 4 MiB RLIMIT_MEMLOCK, no CAP_IPC_LOCK.
  add({ kind: 'map_request', ...hdr(1.5e9, 'vfio.map_dma', 'qemu', 301), ret: -12, lat_ns: 70_000, size: 3 << 20, locked_pages: 768, limit_pages: 1024, cap_ipc_lock: 0, dma_avail: 65534, dma_entry_limit: 65535, pad: 0 });
  w.processes([{ pid: 301, vm: 'vm-alpha', cgroup: null }]);
  w.symbols(new Map([[CORE, 'iommu_group_get+0x10'], [TAKER, 'leak_take+0x1c [iommutrace_leak]']]));
  w.close({ endNs: seconds * 1e9, lost: 0, stopReason: 'duration' });
}

const SHORT = path.join(tmp, 'short.iotrace');
const LONG = path.join(tmp, 'long.iotrace');
syntheticCapture(SHORT, 20);
syntheticCapture(LONG, 600);
/** The lab's capture (a device's VFIO traffic, a leak, GUP), made when missing; the synthetic one where there is no lab. */
let MAIN = SHORT;
let MAIN_NAME = '';
before(async () => {
  const lab = await labCapture();
  MAIN = lab.file ?? SHORT;
  MAIN_NAME = lab.file ? `lab capture ${path.basename(lab.file)}` : `synthetic capture (${lab.why})`;
  const r = buildReport(MAIN);
  const complete = r.devices.some((d) => d.device !== 'unknown' && d.map_bytes > 0) && r.groups.some((g) => g.leaked.length > 0) && r.gup.calls > 0;
  assert.ok(complete, `${MAIN_NAME} shows a device's maps, a leak and GUP`);
});

function top(args: string): string {
  return `node ${CLI} top ${args}; echo EXIT=$?`;
}

function withPane(cols: number, rows: number, fn: (p: Pane) => Promise<void>): Promise<void> {
  const p = Pane.start(cols, rows, ROOT);
  return fn(p).finally(() => p.kill());
}

const exited = (s: string): boolean => /^EXIT=\d+/m.test(s);

/** q (or a signal) must leave the alternate screen, give the prompt back and exit 0. */
async function assertRestored(p: Pane): Promise<void> {
  const s = await p.waitFor(exited, DEADLINE, 'iommutop to exit');
  assert.match(s, /^EXIT=0$/m, s);
  assert.equal(p.alternateScreen(), false, 'the alternate screen is left');
  assert.match(s.split('\n').filter((l) => l.trim()).pop() ?? '', /^(\$|bash-[\d.]+[#$])\s*$/, `the prompt is back:\n${s}`);
  assert.doesNotMatch(s, /┌|└|iommutop │/, 'nothing of the dashboard is left on the screen');
}

function available(t: Parameters<typeof need>[0]): boolean {
  return need(t, Pane.available(), 'tmux is not installed (src/scripts/setup.sh installs it)');
}

test('iommutop shows the device, its mapped volume, the leak and its taker, the GUP split and the probe status', async (t) => {
  if (!available(t)) return;
  t.diagnostic(`capture: ${MAIN_NAME}`);
  const r = buildReport(MAIN);
  const dev = r.devices.filter((d) => d.device !== 'unknown').sort((a, b) => b.map_bytes - a.map_bytes)[0];
  const leak = r.groups.flatMap((g) => g.leaked)[0];
  const attached = r.probes.filter((p) => p.status === 'attached').length;
  await withPane(160, 48, async (p) => {
    p.run(top(`--replay ${MAIN} --speed 0`));
    const s = await p.waitFor((x) => x.includes('replay ended') && x.includes('LEAKED'), DEADLINE, 'the replay to end');
    const row = s.split('\n').find((l) => l.includes(dev.device) && l.includes(formatBytes(dev.map_bytes)));
    assert.ok(row, `a devices row with ${dev.device} and ${formatBytes(dev.map_bytes)}:\n${s}`);
    assert.ok(row.includes(dev.driver), row);
    const leakLine = s.split('\n').find((l) => l.includes('LEAKED'))!;
    assert.ok(leakLine.includes(leak.taker.slice(0, 20)), `the taker ${leak.taker} on:\n${leakLine}`);
    assert.ok(leakLine.includes(`${leak.comm}[${leak.pid}]`), leakLine);
    assert.match(s, new RegExp(`fast +${count(r.gup.fast_pages)} `), 'GUP fast pages');
    assert.match(s, new RegExp(`slow +${count(r.gup.slow_pages)} `), 'GUP slow pages');
    const pct = ((100 * r.gup.fast_pages) / (r.gup.fast_pages + r.gup.slow_pages)).toFixed(1);
    assert.ok(s.includes(`${pct}%`), `fast share ${pct}%`);
    assert.ok(s.includes(`probes ${attached} attached, ${r.probes.length - attached} unavailable (u)`), 'the probe status line');
    assert.match(s, /lost 0/);
    p.keys('q');
    await assertRestored(p);
  });
});

test('the event log says each refused map in words: who (the VM where named), the call, its size, and why', async (t) => {
  if (!available(t)) return;
  t.diagnostic(`capture: ${MAIN_NAME}`);
  const r = buildReport(MAIN);
  assert.ok(r.map_failures.length > 0, `${MAIN_NAME} holds refused maps`);
  // Wide enough for each line on one row (narrower, a line wraps).
  await withPane(220, 48, async (p) => {
    p.run(top(`--replay ${MAIN} --speed 0`));
    await p.waitFor((x) => x.includes('replay ended'), DEADLINE, 'the replay to end');
    // Only the refusals: the log keeps its newest lines, the filter picks them out.
    p.keys('/', ...'refused', 'Enter');
    const s = await p.waitFor((x) => x.includes('filter "refused"'), DEADLINE, 'the filter');
    for (const f of r.map_failures) {
      // Each group's last refusal: the report's detail is its figures.
      const line = `${f.vm ?? `${f.comm}[${f.pid}]`}: ${f.api === 'vfio_map_dma' ? 'MAP_DMA' : 'IOAS_MAP'} `;
      const why = `refused: ${failureReason(f)}`;
      assert.ok(s.split('\n').some((l) => l.includes(line) && l.includes(why)), `a log line with "${line}" and "${why}":\n${s}`);
    }
    p.keys('q');
    await assertRestored(p);
  });
});

test('IO page faults: the Devices panel counts them per device, the event log names each one with its IOVA and reason', async (t) => {
  if (!available(t)) return;
  const r = buildReport(MAIN);
  if (!need(t, r.faults.length > 0, `${MAIN_NAME} holds no IO page fault (the lab's fault workload makes them)`)) return;
  await withPane(220, 48, async (p) => {
    p.run(top(`--replay ${MAIN} --speed 0`));
    const s = await p.waitFor((x) => x.includes('replay ended'), DEADLINE, 'the replay to end');
    assert.match(s, /FAULTS/, 'the column');
    for (const f of r.faults) {
      const row = s.split('\n').find((l) => l.includes(f.device) && l.includes('│'));
      assert.ok(row && new RegExp(`\\s${count(f.count)}\\s*│`).test(row), `${f.device} with ${f.count} faults:\n${s}`);
    }
    p.keys('/', ...'IO page fault', 'Enter');
    const log = await p.waitFor((x) => x.includes('filter "IO page fault"'), DEADLINE, 'the filter');
    for (const f of r.faults) {
      for (const x of f.last.slice(-4)) {
        const line = `IO page fault ${f.device} ${x.write ? 'write' : 'read'} iova ${x.iova}`;
        assert.ok(log.split('\n').some((l) => l.includes(line)), `a log line with "${line}":\n${log}`);
      }
    }
    p.keys('q');
    await assertRestored(p);
  });
});

test('device details: its map sizes with the share in huge maps, and its IOTLB syncs and flushes, as the report has them', async (t) => {
  if (!available(t)) return;
  const r = buildReport(MAIN);
  const dev = r.devices.filter((d) => d.device !== 'unknown').sort((a, b) => b.map_bytes - a.map_bytes)[0];
  const sizes = Object.entries(r.map_sizes[dev.device] ?? {});
  const io = r.iotlb[dev.device];
  assert.ok(sizes.length > 0, `the capture maps into ${dev.device}`);
  await withPane(200, 48, async (p) => {
    p.run(top(`--replay ${MAIN} --speed 0`));
    await p.waitFor((x) => x.includes('replay ended'), DEADLINE, 'the replay to end');
    p.keys('/', ...dev.device.split(''), 'Enter');
    await p.waitFor((x) => x.includes(`filter "${dev.device}"`), DEADLINE, 'the filter');
    p.keys('Home', 'Enter');
    const s = await p.waitFor((x) => x.includes(`Device ${dev.device}`), DEADLINE, 'the device details');
    const line = (name: string) => s.split('\n').find((l) => l.includes(`${name}  `)) ?? '';
    const [size, c] = sizes[0];
    assert.ok(line('map sizes').includes(`${formatBytes(Number(size))}: ${count(c.calls)} (${formatBytes(c.bytes)})`), `smallest class ${size}:\n${s}`);
    if (dev.huge_map_share !== null) assert.ok(line('map sizes').includes(`2 MiB or larger: ${(dev.huge_map_share * 100).toFixed(1)}%`), line('map sizes'));
    if (io) {
      t.diagnostic(`iotlb: ${JSON.stringify(io)}`);
      assert.ok(line('iotlb').includes(`${count(io.sync_calls)} syncs, ${formatBytes(io.sync_bytes)}`), `iotlb:\n${s}`);
      assert.ok(line('iotlb').includes(`${count(io.flush_calls)} flushes`), line('iotlb'));
    } else assert.match(line('iotlb'), /iotlb +-/, 'no invalidation seen: a dash');
    p.keys('Escape');
    await p.waitFor((x) => !x.includes(`Device ${dev.device}`), DEADLINE, 'the details to close');
    p.keys('q');
    await assertRestored(p);
  });
});

test('keys: s and S change the sort order, p freezes the numbers and resumes, q exits 0 with the terminal restored (synthetic capture)', async (t) => {
  if (!available(t)) return;
  await withPane(160, 48, async (p) => {
    p.run(top(`--replay ${LONG} --speed 1 --interval 200ms`));
    // By volume (the default): 04.0 maps twice as much as 03.0.
    const rows = (x: string): string[] => x.split('\n').filter((l) => /^│ 0000:00:0[34]\.0 /.test(l));
    let s = await p.waitFor((x) => rows(x).length === 2 && rows(x).every((l) => /\d MiB/.test(l)), DEADLINE, 'both devices past 1 MiB');
    const order = (x: string): string[] => rows(x).map((l) => l.slice(2, 14));
    assert.deepEqual(order(s), [BDF4, BDF3], s);
    assert.match(s, /▼MAPPED/);
    p.keys('s'); // next column: map p50, where 03.0 is slower
    s = await p.waitFor((x) => x.includes('sort MAP p50'), DEADLINE, 'the sort to change');
    assert.deepEqual(order(s), [BDF3, BDF4], s);
    p.keys('S'); // reversed
    s = await p.waitFor((x) => x.includes('sort MAP p50 ▲'), DEADLINE, 'the order to reverse');
    assert.deepEqual(order(s), [BDF4, BDF3], s);

    const mapped = (x: string): string => x.split('\n').find((l) => l.includes(BDF4))!.slice(0, 100);
    p.keys('p');
    const frozen = await p.waitFor((x) => x.includes('PAUSED'), DEADLINE, 'PAUSED');
    // Several redraws later (the interval is 200 ms), nothing moved.
    const before = mapped(frozen);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(mapped(p.text()), before, 'paused numbers stay');
    }
    p.keys('p');
    await p.waitFor((x) => !x.includes('PAUSED') && mapped(x) !== before, DEADLINE, 'the numbers to move again');
    p.keys('q');
    await assertRestored(p);
  });
});

/** The Rates panel's rows inside its border (the full screen's left half). */
function ratesRows(screen: string): string[] {
  const lines = screen.split('\n');
  const top = lines.findIndex((l) => /^┌── Rates · /.test(l));
  const bottom = lines.findIndex((l, i) => i > top && l.startsWith('└'));
  return top < 0 || bottom < 0 ? [] : lines.slice(top + 1, bottom).map((l) => l.slice(0, 80));
}

/** Braille cells of the data line: the chart minus its y axis (⡇) and its x axis (the ⠒ row). */
function plotted(rows: string[]): number {
  return rows.filter((l) => !/⠓⠒⠒/.test(l)).reduce((n, l) => n + (l.slice(2, 50).replace(/⡇/g, '').match(/[\u2801-\u28ff]/g)?.length ?? 0), 0);
}

test('the Rates panel charts events/s with blessed-contrib\'s line chart; with the focus on it, ↓ charts the next series (synthetic capture)', async (t) => {
  if (!available(t)) return;
  await withPane(160, 48, async (p) => {
    p.run(top(`--replay ${LONG} --speed 1 --interval 200ms`));
    // The capture runs at a steady ~72 events/s: a flat line once two samples are in.
    let s = await p.waitFor((x) => plotted(ratesRows(x)) >= 10, DEADLINE, 'a line in the events/s chart');
    let rows = ratesRows(s);
    assert.match(s, /┌── Rates · events\/s, last [\d.]+s /, 'the series and its unit in the title');
    assert.ok(rows.some((l) => /^│ \d+ *⡇/.test(l)), `y labels beside the axis:\n${rows.join('\n')}`);
    assert.ok(rows.some((l) => /^│ 0 *⡇/.test(l)), 'the zero label');
    assert.ok(rows.some((l) => /⠓⠒{20,}/.test(l)), 'the x axis');
    assert.ok(rows.some((l) => /-\d\.\ds/.test(l)), `time labels:\n${rows.join('\n')}`);
    assert.match(rows[0], /▸ events +[\d.]+[kM]?\/s │$/, 'the list of current rates, the charted one marked');
    assert.ok(rows.every((l) => l.length === 80 && l.endsWith('│')), `nothing spills over the border:\n${rows.join('\n')}`);

    // No flicker: steady redraws (every 200 ms) rewrite only the cells that changed, never clear the screen.
    const out = path.join(tmp, 'redraws.out');
    fs.rmSync(out, { force: true });
    p.pipe(out);
    await new Promise((r) => setTimeout(r, 2000));
    p.unpipe();
    await new Promise((r) => setTimeout(r, 100));
    const written = fs.readFileSync(out, 'latin1');
    t.diagnostic(`${written.length} bytes written in 2 s of redraws`);
    assert.ok(written.length > 0, 'the dashboard kept redrawing');
    assert.doesNotMatch(written, /\x1b\[[0-3]?J/, 'no screen clears');
    assert.ok(written.length < 10 * 3000, `about ten redraws in ${written.length} bytes: changes only (one full repaint of this screen is 5 kB and more)`);

    p.keys('Tab', 'Tab', 'Down');
    s = await p.waitFor((x) => /┌── Rates · mapped [KM]iB\/s/.test(x) && plotted(ratesRows(x)) >= 10, DEADLINE, 'the mapped MiB/s chart');
    rows = ratesRows(s);
    assert.ok(rows.some((l) => /▸ mapped +[\d.]+ [KM]iB\/s/.test(l)), rows.join('\n'));
    p.keys('q');
    await assertRestored(p);
  });
});

test('80x24: the compact screen still shows the device, its volume, the leak and the probe status; q exits 0', async (t) => {
  if (!available(t)) return;
  const r = buildReport(MAIN);
  const dev = r.devices.filter((d) => d.device !== 'unknown').sort((a, b) => b.map_bytes - a.map_bytes)[0];
  await withPane(80, 24, async (p) => {
    p.run(top(`--replay ${MAIN} --speed 0`));
    const s = await p.waitFor((x) => x.includes('LEAKED'), DEADLINE, 'the leak');
    const lines = s.split('\n');
    assert.ok(lines.every((l) => l.length <= 80), 'nothing wider than the terminal');
    assert.ok(lines.some((l) => l.includes(dev.device) && l.includes(formatBytes(dev.map_bytes))), s);
    assert.match(lines[0], /probes \d+(\/\d+| attached)/, 'the probe status in the header');
    assert.match(lines[0], /lost 0/);
    assert.match(s, /fast +[\d,]+ /, 'GUP');
    p.keys('q');
    await assertRestored(p);
  });
});

test('resize from 160x48 to 80x24 and back switches screens without leaving debris (synthetic capture)', async (t) => {
  if (!available(t)) return;
  await withPane(160, 48, async (p) => {
    p.run(top(`--replay ${SHORT} --speed 0 --interval 200ms`));
    await p.waitFor((x) => x.includes('Latency'), DEADLINE, 'the full screen');
    p.resize(80, 24);
    await p.waitFor((x) => !x.includes('Latency') && x.includes('Group refs') && x.split('\n')[0].includes('probes'), DEADLINE, 'the compact screen');
    p.resize(160, 48);
    await p.waitFor((x) => x.includes('Latency') && x.includes('Rates'), DEADLINE, 'the full screen again');
    p.keys('q');
    await assertRestored(p);
  });
});

test('u lists each unavailable probe with its reason; ? shows the keys; / filters; enter shows the leaked stack (synthetic capture)', async (t) => {
  if (!available(t)) return;
  await withPane(160, 48, async (p) => {
    p.run(top(`--replay ${SHORT} --speed 0`));
    await p.waitFor((x) => x.includes('replay ended'), DEADLINE, 'the replay');
    p.keys('u');
    let s = await p.waitFor((x) => x.includes('Probes: 9 attached, 1 unavailable'), DEADLINE, 'the probe list');
    assert.match(s, /dirty\.walk +iova_bitmap_for_each is not in this kernel/);
    // Escape alone: a key right behind it would read as Meta-key, as on any terminal.
    p.keys('Escape');
    await p.waitFor((x) => !x.includes('Probes: 9 attached'), DEADLINE, 'the probe list to close');
    p.keys('?');
    s = await p.waitFor((x) => x.includes('iommutop keys'), DEADLINE, 'the help');
    assert.match(s, /p +pause/);
    p.keys('Escape');
    await p.waitFor((x) => !x.includes('iommutop keys'), DEADLINE, 'the help to close');
    p.keys('/', '0', '4', 'Enter');
    s = await p.waitFor((x) => x.includes('filter "04"'), DEADLINE, 'the filter');
    assert.ok(!s.split('\n').some((l) => /^│ 0000:00:03\.0/.test(l)), `03.0 filtered out:\n${s}`);
    p.keys('/');
    await p.waitFor((x) => x.includes('filter:'), DEADLINE, 'the filter prompt');
    p.keys('Escape');
    await p.waitFor((x) => !x.includes('filter:') && !x.includes('filter "'), DEADLINE, 'the filter to clear');
    // Focus: devices, then latency, rates, group references.
    p.keys('Tab', 'Tab', 'Tab', 'Home', 'Down', 'Enter');
    s = await p.waitFor((x) => x.includes('Leaked reference on group 3'), DEADLINE, 'the leak details');
    assert.match(s, /taker +leak_take\+0x1c \[iommutrace_leak\]/);
    assert.match(s, /iommu_group_get\+0x10/, 'the whole stack');
    p.keys('Escape');
    await p.waitFor((x) => !x.includes('Leaked reference on group 3'), DEADLINE, 'the details to close');
    p.keys('q');
    await assertRestored(p);
  });
});

test('SIGTERM and SIGINT restore the terminal and exit 0 (synthetic capture)', async (t) => {
  if (!available(t)) return;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    await withPane(120, 40, async (p) => {
      p.run(top(`--replay ${LONG}`));
      await p.waitFor((x) => x.includes('Devices'), DEADLINE, 'the dashboard');
      const shell = p.shellPid();
      const pid = Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0]);
      assert.ok(pid > 0, 'the shell runs iommutop');
      process.kill(pid, sig);
      await assertRestored(p);
    });
  }
});

/** The BPF programs and links a process holds, from its file descriptors. */
function bpfHeld(pid: number): { progs: number[]; links: number[] } {
  const held = { progs: [] as number[], links: [] as number[] };
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const link = /^link_id:\s+(\d+)/m.exec(info);
    const prog = /^prog_id:\s+(\d+)/m.exec(info);
    if (link) held.links.push(Number(link[1]));
    else if (prog) held.progs.push(Number(prog[1]));
  }
  return held;
}

/** The ids `bpftool prog list` / `bpftool link list` show. */
function bpftoolIds(what: 'prog' | 'link'): number[] {
  return (JSON.parse(execFileSync('bpftool', [what, 'list', '-j'], { encoding: 'utf8' }) || '[]') as { id: number }[]).map((x) => x.id);
}

/** The header's events per second ("4.8k ev/s" is 4800). */
function eventsPerSec(screen: string): number {
  const m = /│ ([\d.]+)([kMGT]?) ev\/s │/.exec(screen.split('\n')[0]);
  return m ? Number(m[1]) * 1000 ** ' kMGT'.indexOf(m[2] || ' ') : NaN;
}

const hasBpftool = (): boolean => commandWorks('bpftool', ['version']);

/**
 * Live, on this machine's kernel: every probe of the catalogue is asked for, plus
 * the opt-in selftest.getppid (a tracepoint on getppid()), since on a host without
 * an IOMMU the iommu tracepoints attach but never fire and fentry/kprobes may be
 * refused. A paced getppid() loop is then the workload the dashboard must see.
 */
test('live: the header counts attached and unavailable probes (u lists why), events/s rises with a getppid() workload, p pauses, q exits 0 and detaches every program and link', async (t) => {
  if (!available(t)) return;
  if (!need(t, isRoot(), 'live tracing needs root')) return;
  if (!need(t, hasBpftool(), 'bpftool is not installed (apt-get install bpftool)')) return;
  tracefs();
  const probes = [...CATALOGUE.filter((p) => !p.optIn).map((p) => p.name), 'selftest.getppid'];
  const progsBefore = new Set(bpftoolIds('prog'));
  const linksBefore = new Set(bpftoolIds('link'));
  let workload: ReturnType<typeof spawn> | undefined;
  t.after(() => workload?.kill());
  let ours = { progs: [] as number[], links: [] as number[] };
  await withPane(160, 48, async (p) => {
    p.run(top(`--interval 300ms --probes ${probes.join(',')}`));
    let s = await p.waitFor((x) => x.includes('Devices') && / live │/.test(x.split('\n')[0]), DEADLINE, 'the live dashboard');
    const m = /probes (\d+) attached, (\d+) unavailable \(u\)/.exec(s.split('\n')[0]);
    assert.ok(m, `the probe counts in the header:\n${s.split('\n')[0]}`);
    const [attached, down] = [Number(m[1]), Number(m[2])];
    t.diagnostic(`${attached} probes attached, ${down} unavailable on ${s.split('\n')[0].split('│')[2].trim()}`);
    assert.ok(attached >= 1, 'at least selftest.getppid attaches');
    assert.equal(attached + down, probes.length, 'every probe asked for is counted');

    const shell = p.shellPid();
    const pid = Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0]);
    ours = bpfHeld(pid);
    assert.ok(ours.progs.length >= attached && ours.links.length >= attached, `iommutop holds its programs and links: ${JSON.stringify(ours)}`);
    assert.ok(ours.progs.every((id) => !progsBefore.has(id)) && ours.progs.every((id) => bpftoolIds('prog').includes(id)), 'bpftool lists them while it runs');

    p.keys('u');
    s = await p.waitFor((x) => x.includes(`Probes: ${attached} attached, ${down} unavailable`), DEADLINE, 'the probe list');
    if (down > 0) assert.match(s, /│\s+[a-z]+\.[a-z_]+ {2,}\S.{10,}/, 'an unavailable probe with its reason');
    p.keys('Escape');
    await p.waitFor((x) => !x.includes('Probes:'), DEADLINE, 'the probe list to close');

    // Quiet first (nothing on this host maps DMA; some getppid() calls of other processes at most).
    await new Promise((r) => setTimeout(r, 1000));
    const idle = eventsPerSec(p.text());
    workload = spawn(process.execPath, ['-e', 'setInterval(() => { for (let i = 0; i < 50; i++) process.ppid; }, 10)'], { stdio: 'ignore' });
    s = await p.waitFor((x) => eventsPerSec(x) >= 2000, DEADLINE, 'events/s to rise with ~5,000 getppid() calls a second');
    t.diagnostic(`events/s: ${idle} idle, ${eventsPerSec(s)} under the workload`);
    assert.ok(idle < eventsPerSec(s) / 2, `idle ${idle} ev/s`);
    assert.match(s, /▸ events +[\d.]+k\/s/, 'the Rates panel sees them too');
    assert.match(s.split('\n')[0], /lost 0/);

    p.keys('p');
    const frozen = (await p.waitFor((x) => x.includes('PAUSED'), DEADLINE, 'PAUSED')).split('\n').slice(0, 30).join('\n');
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(p.text().split('\n').slice(0, 30).join('\n'), frozen, 'paused: nothing moves while events keep coming');
    }
    p.keys('p');
    await p.waitFor((x) => !x.includes('PAUSED') && x.split('\n').slice(0, 30).join('\n') !== frozen, DEADLINE, 'the numbers to move again');

    workload.kill();
    await p.waitFor((x) => eventsPerSec(x) < 1000, DEADLINE, 'events/s to fall once the workload stops');
    p.keys('q');
    await assertRestored(p);
  });
  const progsAfter = bpftoolIds('prog');
  const linksAfter = bpftoolIds('link');
  t.diagnostic(`bpftool: ${progsBefore.size} programs and ${linksBefore.size} links before, ${progsAfter.length} and ${linksAfter.length} after`);
  // The ids iommutop held while it ran: none may outlive it (ids are never reused while a program lives).
  assert.deepEqual(progsAfter.filter((id) => ours.progs.includes(id)), [], `no program of ours is left (we held ${ours.progs.join(', ')})`);
  assert.deepEqual(linksAfter.filter((id) => ours.links.includes(id)), [], `no link of ours is left (we held ${ours.links.join(', ')})`);
});

test('a bad layout is refused in one line, exit 1; so is a missing capture', () => {
  const bad = path.join(tmp, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ format: 'iommutop-layout/1', screens: [{ name: 'x', grid: { rows: 2, cols: 2 }, widgets: [{ kind: 'pie', row: 0, col: 0, rowSpan: 1, colSpan: 1 }] }] }));
  const r = cli(['top', '--replay', SHORT, '--layout', bad]);
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /layout .*bad\.json: screens\[0\]\.widgets\[0\]\.kind: "pie" is not one of devices/);
  assert.ok(!hasStackTrace(r.stderr));
  fs.writeFileSync(bad, '{ not json');
  assert.match(cli(['top', '--replay', SHORT, '--layout', bad]).stderr, /^iommutrace: layout .*: not valid JSON/);
  const missing = cli(['top', '--replay', path.join(tmp, 'nope.iotrace')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file/);
});

test('live top without privileges: one line naming the capability, exit 1', (t) => {
  if (!need(t, process.getuid?.() === 0, 'needs root to drop to another user')) return;
  const r = cli(['top'], { asUser: 'nobody' });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /live tracing needs root or CAP_BPF/);
});
