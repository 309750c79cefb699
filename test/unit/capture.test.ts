import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureError, CaptureStream, readCapture, readCaptureFile } from '../../src/capture/reader';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { ReplaySource } from '../../src/source/replay';
import { BPF_OBJECT } from '../helpers';

const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-'));

function header(): CaptureHeader {
  return {
    toolVersion: '0.0.0-test',
    host: 'testhost',
    kernelRelease: '6.1.0-56-amd64',
    bootId: 'b00t',
    btfFingerprint: 'ab'.repeat(32),
    btf: true,
    probes: [{ name: 'iommu.map', target: 'iommu_map', mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] }],
    clockBaseNs: '18446744073709551000',
    wallBaseUnixNs: 1795279426000000000,
    kinds: captureKinds(decoder),
    leakAgeNs: 30e9,
    lockdown: 'none',
    argv: ['record'],
  };
}

/** Deterministic events of every kind, with values that exercise deltas, signs, strings and 64-bit addresses. */
function events(n: number): CaptureEvent[] {
  const out: CaptureEvent[] = [];
  let ts = 1000;
  for (let i = 0; i < n; i++) {
    ts += (i * 7919) % 5000;
    const hdr = { ts_ns: ts, pid: 100 + (i % 3), tid: 200 + (i % 5), ret: i % 11 === 0 ? -14 : 0, comm: i % 2 ? 'qemu-kvm' : 'vfio-test', probe: 'iommu.map' };
    switch (i % 4) {
      case 0:
        out.push({ kind: 'dma', ...hdr, lat_ns: 500 + i, domain: 0xffff888012340000n + BigInt(i % 2) * 0x1000n, iova: BigInt(i) * 4096n, size: 4096 * (1 + (i % 512)), done: 4096 * (1 + (i % 512)) });
        break;
      case 1:
        out.push({ kind: 'group_ref', ...hdr, probe: 'iommu.group_get', group: 0xffff8880deadbe00n, group_id: 3, nr_frames: 3, dev_name: '0000:00:03.0', stack: [0xffffffff81000000n + BigInt(i), 0xffffffffc0a01000n, 0xffffffff81234567n, ...Array(13).fill(0n)] });
        break;
      case 2:
        out.push({ kind: 'gup', ...hdr, probe: 'gup.fast', lat_ns: 1200, start: 0x7f0000000000n + BigInt(i) * 4096n, nr_pages: 16, gup_flags: 0x10000, fast_pages: 16, fast_seen: 1 });
        break;
      default:
        out.push({ kind: 'pin', ...hdr, probe: 'vfio.pin', lat_ns: 3000, addr: 0x7f1234560000n, nr_pages: 512, pinned: i % 13 === 0 ? -12 : 512 });
    }
  }
  return out;
}

/** What a decoded event of that kind holds: every column, nothing else. */
function normalize(e: CaptureEvent): Record<string, unknown> {
  const kind = header().kinds.find((k) => k.name === e.kind)!;
  const out: Record<string, unknown> = { kind: e.kind, ts_ns: e.ts_ns };
  for (const c of kind.columns) {
    const v = e[c.name];
    out[c.name] = v ?? (c.type === 1 ? '' : c.type === 2 ? 0n : 0);
  }
  return out;
}

function write(file: string, evs: CaptureEvent[], batch = 100, close = true): Buffer {
  const w = new CaptureWriter(file, header(), { batchEvents: batch, force: true });
  for (const e of evs) w.add(e);
  w.symbols(new Map([[0xffffffffc0a01000n, 'leak_take+0x1c [leakmod]']]));
  if (close) w.close({ endNs: 99, lost: 0, stopReason: 'duration' });
  else w.flush();
  return fs.readFileSync(file);
}

function readAll(buf: Buffer) {
  const got: CaptureEvent[] = [];
  const c = readCapture(buf, { onEvent: (e) => got.push(e) });
  return { c, got };
}

test('events through the writer and the reader come back identical', () => {
  const evs = events(1000);
  const { c, got } = readAll(write(path.join(tmp, 'rt.iotrace'), evs));
  assert.equal(c.cut, false);
  assert.equal(c.damage, undefined);
  assert.equal(c.events, evs.length);
  assert.equal(c.trailer?.events, evs.length);
  assert.equal(c.header.host, 'testhost');
  assert.equal(c.header.clockBaseNs, '18446744073709551000');
  assert.equal(c.symbols.get('ffffffffc0a01000'), 'leak_take+0x1c [leakmod]');
  assert.deepEqual(got, evs.map(normalize));
});

test('integer fields come back exact on both sides of the small-integer range, and in runs of one kind after another', () => {
  // The reader stores fields that fit 32 bits as small integers (no heap number each); the rest must pass untouched.
  const edges = [0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 + 5, -(2 ** 40), 2 ** 44 + 3, 7];
  const evs: CaptureEvent[] = [];
  let ts = 5;
  for (const [i, v] of edges.entries()) {
    const hdr = { ts_ns: (ts += 2 ** 31 + i), pid: v, tid: 1, ret: v, comm: 'edge', probe: 'iommu.map' };
    const dma = { kind: 'dma', ...hdr, lat_ns: v, domain: 0xffff888012340000n, iova: BigInt(i) << 32n, size: v, done: v } as const;
    // Two of a kind, then the other: the reader keeps the last kind's columns at hand.
    evs.push(dma, { ...dma, ts_ns: (ts += 1), size: -v || 1 }, { kind: 'gup', ...hdr, probe: 'gup.fast', lat_ns: 9, start: 0x7f0000000000n, nr_pages: v, gup_flags: 0, fast_pages: v, fast_seen: 1 });
  }
  const { got } = readAll(write(path.join(tmp, 'edges.iotrace'), evs, 4));
  assert.deepEqual(got, evs.map(normalize));
  for (const e of got) for (const v of Object.values(e)) if (typeof v === 'number') assert.ok(Number.isSafeInteger(v) && !Object.is(v, -0), `${v}`);
});

test('captures are created 0600 and an existing file is refused untouched', () => {
  const file = path.join(tmp, 'mode.iotrace');
  write(file, events(10));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  fs.writeFileSync(file, 'precious');
  assert.throws(() => new CaptureWriter(file, header()), /EEXIST/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
});

test('a writer created without its header holds the file and writes nothing until begin(), which comes once', () => {
  const file = path.join(tmp, 'late-header.iotrace');
  const w = new CaptureWriter(file, undefined);
  assert.equal(fs.statSync(file).size, 0, 'the file exists, empty, before the header');
  assert.throws(() => w.add(events(1)[0]), /not in the capture header/);
  assert.throws(() => w.symbols(new Map([[1n, 'x']])), /header is not written yet/, 'no frame can precede the header');
  assert.throws(() => new CaptureWriter(file, undefined), /EEXIST/, 'created means refused to a second writer');
  w.begin(header());
  assert.throws(() => w.begin(header()), /already written/);
  const evs = events(50);
  for (const e of evs) w.add(e);
  w.close({ endNs: 1e9, lost: 0, stopReason: 'test' });
  const { c, got } = readAll(fs.readFileSync(file));
  assert.equal(c.header.host, 'testhost');
  assert.deepEqual(got, evs.map(normalize));
});

test('a capture cut at every frame boundary and in between reads up to its last whole frame and says it was cut', () => {
  const evs = events(300);
  const full = write(path.join(tmp, 'cut.iotrace'), evs, 50);
  // Frame boundaries: walk the varint lengths.
  const ends: number[] = [];
  for (let off = 12; off < full.length; ) {
    let len = 0;
    let shift = 0;
    let i = off;
    for (;;) {
      const b = full[i++];
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    off = i + len + 4;
    ends.push(off);
  }
  assert.equal(ends[ends.length - 1], full.length);
  const headerEnd = ends[0];
  let checked = 0;
  for (let cut = headerEnd; cut < full.length; cut += cut % 7 === 0 ? 1 : 13) {
    const { c, got } = readAll(full.subarray(0, cut));
    assert.equal(c.cut, true, `cut at ${cut}`);
    assert.equal(c.damage, undefined, `cut at ${cut} is not damage`);
    assert.deepEqual(got, evs.slice(0, got.length).map(normalize), `cut at ${cut}: a prefix of the events`);
    // Exactly the events of the whole frames before the cut.
    const whole = ends.filter((e) => e <= cut).length;
    assert.ok(got.length <= Math.max(0, (whole - 1) * 50), `cut at ${cut}`);
    checked++;
  }
  for (const end of ends.slice(0, -1)) {
    const { c } = readAll(full.subarray(0, end));
    assert.equal(c.cut, true, `cut at frame end ${end}`);
  }
  assert.ok(checked > 50);
});

test('another format version is refused with a clear message; so is a file that is not a capture', () => {
  const buf = Buffer.from(write(path.join(tmp, 'v.iotrace'), events(5)));
  buf.writeUInt32LE(2, 8);
  assert.throws(() => readCapture(buf), (e: Error) => e instanceof CaptureError && /version 2 is not supported \(this iommutrace reads version 1\)/.test(e.message));
  assert.throws(() => readCapture(Buffer.from('hello world, not a capture')), /bad magic/);
  buf.writeUInt32LE(1, 8);
  assert.throws(() => readCapture(buf.subarray(0, 12)), /cut before its header/);
});

test('a flipped byte inside a frame is reported as damage at that frame, events before it kept', () => {
  const evs = events(200);
  const full = Buffer.from(write(path.join(tmp, 'dmg.iotrace'), evs, 50));
  full[Math.floor(full.length * 0.6)] ^= 0xff;
  const { c, got } = readAll(full);
  assert.match(c.damage ?? '', /frame at byte \d+ is damaged \(checksum mismatch\)/);
  assert.ok(got.length > 0 && got.length < evs.length);
  assert.deepEqual(got, evs.slice(0, got.length).map(normalize));
});

test('a replay streams the capture frame by frame: the same events as reading it whole, symbols known before the first', async () => {
  const evs = events(5000);
  const file = path.join(tmp, 'stream.iotrace');
  write(file, evs, 64);
  const whole: CaptureEvent[] = [];
  assert.equal(readCaptureFile(file, { onEvent: (e) => whole.push(e) }).events, evs.length);
  const replay = new ReplaySource(file, { speed: 0 });
  // The symbols frame is written last, yet a replay knows it before playing.
  assert.equal(replay.symbolize(0xffffffffc0a01000n), 'leak_take+0x1c [leakmod]');
  assert.equal(replay.contents.trailer?.events, evs.length);
  const played: unknown[] = [];
  await new Promise<void>((resolve) => replay.start((e) => played.push(e), resolve));
  assert.equal(replay.ended, true);
  assert.equal(replay.events, evs.length);
  assert.deepEqual(played, whole);
  assert.deepEqual(played, evs.map(normalize));
});

test('a stream of a damaged capture plays the frames before the damage, then says where it is', () => {
  const evs = events(400);
  const full = write(path.join(tmp, 'stream-damage.iotrace'), evs, 50);
  const file = path.join(tmp, 'stream-damaged.iotrace');
  const bad = Buffer.from(full);
  bad[Math.floor(bad.length / 2)] ^= 0xff;
  fs.writeFileSync(file, bad);
  const expected = readAll(bad);
  const stream = new CaptureStream(file);
  const got: CaptureEvent[] = [];
  for (let b = stream.next(); b; b = stream.next()) got.push(...b);
  stream.close();
  assert.ok(expected.c.damage, 'the flipped byte is found');
  assert.equal(stream.contents.damage, expected.c.damage);
  assert.deepEqual(got, expected.got);
  assert.ok(got.length > 0 && got.length < evs.length);
});
