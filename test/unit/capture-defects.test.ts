/**
 * The capture boundary's defects of issue 16, each shown on a small file: a kind
 * that lacks a column its interface needs, the consumer's own exceptions, a
 * damaged header, a damaged file reported as cut, and a replay's silent end.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureError, readCaptureFile } from '../../src/capture/reader';
import { CaptureHeader, EventKindSpec } from '../../src/capture/types';
import { CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { GroupRefEvent } from '../../src/events/types';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { ReplaySource } from '../../src/source/replay';
import { headerLine } from '../../src/tui/header';
import { Model } from '../../src/tui/model';
import { BPF_OBJECT, CLI } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-defects-'));
const kinds = captureKinds(new Decoder(EventSchema.fromFile(BPF_OBJECT)));

function header(k: EventKindSpec[] = kinds): CaptureHeader {
  return {
    toolVersion: '0.0.0-test', host: 'testhost', kernelRelease: '6.1.0-56-amd64', bootId: '', btfFingerprint: '', btf: true,
    probes: [{ name: 'iommu.group_get', target: 'iommu_group_get', mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] }],
    clockBaseNs: '1000', wallBaseUnixNs: 1795279426000000000, kinds: k, leakAgeNs: 0, lockdown: '', argv: [],
  };
}

const ref = (ts: number): GroupRefEvent => ({
  kind: 'group_ref', ts_ns: ts, pid: 1, tid: 1, probe: 'iommu.group_get', ret: 0, comm: 'sh',
  group: 0xffff0001n, group_id: 3, nr_frames: 1, dev_name: '0000:00:03.0', stack: [0xffffffff81000000n, ...Array<bigint>(15).fill(0n)],
});

/** A complete capture of `n` group references in frames of 4 events. */
function write(name: string, n: number, k?: EventKindSpec[]): string {
  const file = path.join(tmp, name);
  const w = new CaptureWriter(file, header(k), { batchEvents: 4, force: true });
  for (let i = 0; i < n; i++) w.add(ref(i + 1));
  w.close({ endNs: n + 1, lost: 0, stopReason: 'duration' });
  return file;
}

function report(file: string, ...flags: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'report', file, ...flags], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Byte offset of the first frame after the preamble (magic + version). */
const FIRST_FRAME = 12;

test('a kind that lacks a column its interface needs is refused in one line, exit 2, before any event', () => {
  const noStack = kinds.map((k) => (k.name === 'group_ref' ? { ...k, columns: k.columns.filter((c) => c.name !== 'stack') } : k));
  const file = write('no-stack.iotrace', 8, noStack);
  assert.throws(() => readCaptureFile(file), (e: Error) => e instanceof CaptureError && e.damaged && e.message === 'capture kind group_ref lacks column stack');
  const r = report(file);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim(), `iommutrace: ${file}: capture kind group_ref lacks column stack`);
});

test("the consumer's exceptions are its own, never the file's damage", () => {
  const file = write('whole.iotrace', 8);
  assert.throws(
    () => readCaptureFile(file, { onEvent: () => { throw new TypeError('Cannot read properties of undefined'); } }),
    (e: Error) => e instanceof TypeError && !(e instanceof CaptureError),
  );
  const r = report(file, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).capture.damage, null);
});

test('a header whose checksum fails is damage (exit 2), not a cut file', () => {
  const file = write('bad-header.iotrace', 8);
  const buf = fs.readFileSync(file);
  buf[FIRST_FRAME + 6] ^= 0xff; // inside the header frame's payload
  fs.writeFileSync(file, buf);
  assert.throws(() => readCaptureFile(file), (e: Error) => e instanceof CaptureError && e.damaged && /capture header is damaged: .*checksum/.test(e.message));
  const r = report(file);
  assert.equal(r.status, 2, r.stderr);
  assert.doesNotMatch(r.stderr, /cut/);
  // The same for the replays of top and export: one line, exit 2.
  for (const cmd of [['top', '--replay', file], ['export', '--replay', file, '--listen', '127.0.0.1:0']]) {
    const x = spawnSync(process.execPath, [CLI, ...cmd], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(x.status, 2, `${cmd[0]}: ${x.stderr}`);
    assert.match(x.stderr, /capture header is damaged/);
    assert.equal(x.stderr.trim().split('\n').length, 1, x.stderr);
  }
  // A file cut inside its header is still a cut, exit 1.
  fs.writeFileSync(file, buf.subarray(0, FIRST_FRAME + 8));
  assert.equal(report(file).status, 1);
});

/** A whole capture with a last frame claiming far more bytes than any frame may. */
function damagedAtEnd(): string {
  const file = write('claims.iotrace', 8);
  const buf = fs.readFileSync(file);
  fs.writeFileSync(file, Buffer.concat([buf, Buffer.from([0x80, 0x80, 0x80, 0x80, 0x40, 0x00])]));
  return file;
}

test('a damaged file is reported as damaged only, never also as cut', () => {
  const rep = buildReport(damagedAtEnd());
  assert.match(rep.capture.damage ?? '', /claims/);
  assert.equal(rep.capture.cut, false);
  // Damage in the middle: reading stops there, before the trailer, and that is not a cut.
  const file = write('damaged-middle.iotrace', 40);
  const buf = fs.readFileSync(file);
  buf[Math.floor(buf.length / 2)] ^= 0xff;
  fs.writeFileSync(file, buf);
  for (const r of [rep, buildReport(file)]) {
    const text = renderReport(r);
    assert.match(text, /damage/);
    assert.doesNotMatch(text, /cut/);
  }
});

async function playToEnd(file: string): Promise<{ model: Model; src: ReplaySource }> {
  const src = new ReplaySource(file, { speed: 0 });
  const model = new Model(src, 0);
  await new Promise<void>((resolve) => src.start((e) => model.add(e), resolve));
  return { model, src };
}

test('top --replay says where a cut or damaged capture ended, in the status line and the log', async () => {
  const cutFile = path.join(tmp, 'cut.iotrace');
  const whole = fs.readFileSync(write('to-cut.iotrace', 8));
  fs.writeFileSync(cutFile, whole.subarray(0, whole.length - 30));
  for (const [file, state, detail] of [
    [cutFile, 'cut', /the capture was cut at byte \d+ of \d+/],
    [damagedAtEnd(), 'damaged', /the capture is damaged: frame at byte \d+ claims/],
  ] as const) {
    const { model } = await playToEnd(file);
    const v = model.view({ paused: false, ended: true, cpuPct: 0 });
    assert.match(headerLine(v, 200), new RegExp(`replay ended: ${state}`));
    assert.ok(v.log.entries.some((e) => detail.test(e.text)), JSON.stringify(v.log.entries));
  }
  // A whole capture ends as before.
  const { model } = await playToEnd(write('whole2.iotrace', 8));
  const v = model.view({ paused: false, ended: true, cpuPct: 0 });
  assert.match(headerLine(v, 200), /replay ended(?!:)/);
});
