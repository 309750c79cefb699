/**
 * A capture from another machine is input, not trust: built here with the real writer,
 * with terminal escapes (ESC [ 2 J, OSC 52 clipboard writes, OSC 8 links, 8-bit CSI,
 * bidi overrides), `__proto__`/`constructor` as names and keys, path-like and
 * code-like strings, NULs, lone surrogates, raw invalid UTF-8 and huge declared
 * lengths in every string the report shows. `report` must exit cleanly, print no raw
 * control byte in text, valid JSON with --json, leave Object.prototype alone, and
 * create or change no file in its working directory, $HOME or the capture's folder.
 */
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { captureKinds } from '../../src/capture/kinds';
import { crc32 } from '../../src/capture/crc32';
import { PREAMBLE_SIZE } from '../../src/capture/proto';
import { readCaptureFile } from '../../src/capture/reader';
import { CaptureHeader, EventKindSpec } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { BPF_OBJECT, CLI } from '../helpers';
import { hasStackTrace } from '../e2e/cli';

/** Bytes written in place of this marker after the capture is written: invalid UTF-8, same length. */
const BAD_UTF8_MARKER = 'INVALIDUTF8!';
const BAD_UTF8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c]);

const HOSTILE = [
  '\x1b[2J\x1b[H',
  '\x1b]52;c;cHduZWQ=\x07',
  '\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\',
  '\x9b2J\x9d52;c;eA==\x9c',
  '\u202egnp.exe',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  '../../etc/passwd',
  '/root/.bashrc',
  'a\0b\0\0',
  '\ud800 lone surrogate',
  '${process.exit(7)}',
  "'); require('fs').writeFileSync('pwned', '1'); ('",
  'line one\nLEAKED  forged line\r\x08\x08\x7f',
  BAD_UTF8_MARKER,
  'x'.repeat(100_000),
];

const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
const kinds = captureKinds(decoder);

function header(probes: string[], extraKinds: EventKindSpec[] = []): CaptureHeader {
  return {
    toolVersion: HOSTILE[1],
    host: HOSTILE[0] + HOSTILE[2],
    kernelRelease: HOSTILE[3] + HOSTILE[9],
    bootId: HOSTILE[11],
    btfFingerprint: HOSTILE[13],
    btf: true,
    probes: probes.map((name, i) => ({
      name,
      target: HOSTILE[i % HOSTILE.length],
      mode: HOSTILE[(i + 1) % HOSTILE.length],
      status: i % 3 === 0 ? 'unavailable' : 'attached',
      reason: HOSTILE[(i + 2) % HOSTILE.length],
      module: HOSTILE[(i + 3) % HOSTILE.length],
      lacks: HOSTILE,
    })),
    clockBaseNs: '0',
    wallBaseUnixNs: Date.UTC(2026, 10, 21) * 1e6,
    kinds: [...kinds, ...extraKinds],
    leakAgeNs: 0,
    lockdown: HOSTILE[4],
    argv: HOSTILE,
  };
}

const PROBES = ['iommu.attach_dev', 'iommu.group_get', 'iommu.group_put', 'iommu.map', 'gup.fast', 'vfio.pin', 'dirty.walk', 'iommu.io_page_fault', ...HOSTILE];

/** Every event kind, with a hostile string in every string column and hostile probe names. */
function* hostileEvents(): Generator<CaptureEvent> {
  let ts = 1_000;
  HOSTILE.forEach((s, i) => {
    const base = { pid: 100 + i, tid: 100 + i, ret: 0, comm: s };
    const addr = 0xffffffffc0000000n + BigInt(i) * 0x100n;
    const dev = s;
    const attach = { ...base, lat_ns: 1000, domain: 0xffff888100000000n + BigInt(i), group: 0xffff888200000000n + BigInt(i), domain_type: 1, group_id: i, dev_name: dev, driver: s };
    const out: CaptureEvent[] = [
      { kind: 'attach', ts_ns: ts++, probe: 'iommu.attach_dev', ...attach },
      { kind: 'attach', ts_ns: ts++, probe: s, ...attach },
      { kind: 'group_ref', ts_ns: ts++, probe: 'iommu.group_get', ...base, group: attach.group, group_id: i, nr_frames: 3, dev_name: dev, stack: [addr, addr + 8n, addr + 16n] },
      { kind: 'dma', ts_ns: ts++, probe: 'iommu.map', ...base, lat_ns: 500 + i, domain: attach.domain, iova: 0x1000n, size: 4096, done: 4096, group_id: i, pad: 0 },
      { kind: 'dma', ts_ns: ts++, probe: s, ...base, lat_ns: 500 + i, domain: attach.domain, iova: 0x1000n, size: 4096, done: 4096, group_id: i, pad: 0 },
      { kind: 'gup', ts_ns: ts++, probe: 'gup.fast', ...base, ret: -(i + 1), lat_ns: 300, start: 0x7f0000000000n, nr_pages: 4, gup_flags: 0, fast_pages: 0, fast_seen: 1 },
      { kind: 'gup', ts_ns: ts++, probe: 'gup.fast', ...base, ret: 4, lat_ns: 300, start: 0x7f0000000000n, nr_pages: 4, gup_flags: 0, fast_pages: 2, fast_seen: 1 },
      { kind: 'pin', ts_ns: ts++, probe: 'vfio.pin', ...base, lat_ns: 100, addr: 0x7f0000000000n, nr_pages: 1, pinned: 1 },
      { kind: 'dirty', ts_ns: ts++, probe: 'dirty.walk', ...base, lat_ns: 100, bitmap: 0x1000n, iova: 0n, length: 4096, page_size: 4096, fn: addr + 24n },
      { kind: 'iommu_tp', ts_ns: ts++, probe: 'iommu.io_page_fault', ...base, iova: 0xdead000n, group_id: i, flags: 1, dev_name: dev, driver: s },
      { kind: 'selftest', ts_ns: ts++, probe: s, ...base, seq: i },
    ];
    for (const e of out) events.push(e);
  });
  yield* events;
}
const events: CaptureEvent[] = [];

/** Symbols of every stack and callback address: the hostile strings again. */
function hostileSymbols(): Map<bigint, string> {
  const m = new Map<bigint, string>();
  HOSTILE.forEach((s, i) => {
    const addr = 0xffffffffc0000000n + BigInt(i) * 0x100n;
    m.set(addr, 'iommu_group_get+0x10');
    m.set(addr + 8n, `${s}+0x1c [${s}]`);
    m.set(addr + 16n, s);
    m.set(addr + 24n, i % 2 ? '__proto__' : 'constructor');
  });
  return m;
}

/** Walks the frames of a capture, lets `patch` change payloads (same length), and fixes each CRC. */
function patchFrames(buf: Buffer, patch: (payload: Buffer) => void): Buffer {
  const out = Buffer.from(buf);
  let off = PREAMBLE_SIZE;
  while (off < out.length) {
    let len = 0;
    let shift = 0;
    let b: number;
    do {
      b = out[off++];
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    const payload = out.subarray(off, off + len);
    patch(payload);
    out.writeUInt32LE(crc32(payload), off + len);
    off += len + 4;
  }
  return out;
}

/** A frame of raw bytes, with its length and CRC (what the writer does, for payloads it would never write). */
function rawFrame(payload: Buffer, declaredLength = payload.length): Buffer {
  const varint: number[] = [];
  let n = declaredLength;
  for (; n >= 128; n = Math.floor(n / 128)) varint.push((n % 128) | 0x80);
  varint.push(n);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(payload));
  return Buffer.concat([Buffer.from(varint), payload, crc]);
}

interface Tree {
  [p: string]: string;
}

/** Every file and directory under `dir`: type, mode, size, mtime and content hash. */
function snapshot(dir: string, base = dir, out: Tree = {}): Tree {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p);
    const rel = path.relative(base, p);
    if (st.isDirectory()) {
      out[rel] = `dir ${st.mode.toString(8)} ${st.mtimeMs}`;
      snapshot(p, base, out);
    } else {
      const hash = st.isFile() ? createHash('sha256').update(fs.readFileSync(p)).digest('hex') : '';
      out[rel] = `${st.isFile() ? 'file' : 'other'} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`;
    }
  }
  return out;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-hostile-'));
const caps = path.join(root, 'captures');
const home = path.join(root, 'home');
const work = path.join(root, 'work');
for (const d of [caps, home, work]) fs.mkdirSync(d);
after(() => fs.rmSync(root, { recursive: true, force: true }));
fs.writeFileSync(path.join(home, '.bashrc'), '# untouched\n');
fs.writeFileSync(path.join(work, 'notes.txt'), 'untouched\n');

/** The capture with hostile values everywhere, raw invalid UTF-8 patched in. */
function writeHostile(file: string): void {
  events.length = 0;
  const w = new CaptureWriter(file, header(PROBES), { batchEvents: 64 });
  for (const e of hostileEvents()) w.add(e);
  w.symbols(hostileSymbols());
  // VM names and cgroups as a hostile recording host would claim them (within the reader's bound).
  w.processes(HOSTILE.map((s, i) => ({ pid: 100 + i, vm: s.slice(0, 4096), cgroup: `/machine.slice/${s}`.slice(0, 4096) })));
  w.close({ endNs: 1_000_000, lost: 0, stopReason: HOSTILE.slice(0, 5).join('') });
  const marker = Buffer.from(BAD_UTF8_MARKER);
  let patched = 0;
  const buf = patchFrames(fs.readFileSync(file), (payload) => {
    for (let at = payload.indexOf(marker); at >= 0; at = payload.indexOf(marker, at + 1)) {
      BAD_UTF8.copy(payload, at);
      patched++;
    }
  });
  assert.ok(patched > 3, `invalid UTF-8 patched in ${patched} places`);
  fs.writeFileSync(file, buf, { mode: 0o600 });
}

/**
 * Structure, not values: kinds named `__proto__` and `constructor` with columns named
 * `constructor`, `prototype` and `polluted`, then a frame whose string declares a
 * length far past its end, then a frame declaring 2^34 bytes.
 */
function writeStructural(file: string): void {
  const evil: EventKindSpec[] = [
    { id: 40, name: '__proto__', columns: [{ name: 'constructor', type: 1, width: 0 }, { name: 'polluted', type: 1, width: 0 }, { name: 'prototype', type: 2, width: 2 }] },
    { id: 41, name: 'constructor', columns: [{ name: 'prototype', type: 0, width: 0 }, { name: 'hasOwnProperty', type: 1, width: 0 }] },
  ];
  const w = new CaptureWriter(file, header(PROBES, evil), { batchEvents: 8 });
  for (let i = 0; i < 20; i++) {
    w.add({ kind: '__proto__', ts_ns: i, constructor: HOSTILE[i % HOSTILE.length], polluted: 'yes', prototype: [0xffffn, 0x1n] } as unknown as CaptureEvent);
    w.add({ kind: 'constructor', ts_ns: i, prototype: i, hasOwnProperty: 'no' } as unknown as CaptureEvent);
  }
  w.flush();
  w.abandon();
  // Frame { strings (2) { first_index (1) = N, values (2) = <length 2^31 - 1, then 3 bytes> } }
  const strings = Buffer.from([0x08, 0x7f, 0x12, 0xff, 0xff, 0xff, 0xff, 0x07, 0x41, 0x42, 0x43]);
  const frame = Buffer.concat([Buffer.from([0x12, strings.length]), strings]);
  fs.appendFileSync(file, rawFrame(frame));
  fs.appendFileSync(file, rawFrame(Buffer.from('tail'), 2 ** 34));
}

/** A column named `__proto__` (an ADDR column 2 wide: an array that would become a prototype). */
function writeProtoColumn(file: string): void {
  const evil: EventKindSpec[] = [{ id: 42, name: 'group_ref', columns: [{ name: '__proto__', type: 2, width: 2 }, { name: 'polluted', type: 1, width: 0 }] }];
  const w = new CaptureWriter(file, { ...header(PROBES), kinds: evil });
  for (let i = 0; i < 10; i++) w.add({ kind: 'group_ref', ts_ns: i, ['__proto__']: [1n, 2n], polluted: 'yes' } as unknown as CaptureEvent);
  w.close({ endNs: 10, lost: 0, stopReason: 'duration' });
}

const hostileFile = path.join(caps, 'hostile.iotrace');
const structuralFile = path.join(caps, 'structural.iotrace');
const protoColumnFile = path.join(caps, 'proto-column.iotrace');
writeHostile(hostileFile);
writeStructural(structuralFile);
writeProtoColumn(protoColumnFile);

/** `report` as a stranger's capture is opened: cwd, HOME and the XDG folders in our temp tree. */
function report(file: string, json: boolean): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', TERM: 'xterm-256color' };
  const r = spawnSync(process.execPath, [CLI, 'report', file, ...(json ? ['--json'] : [])], { cwd: work, env, encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20 });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Control bytes other than the newline: what a terminal would act on. */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function assertPrintable(text: string, what: string): void {
  const m = CONTROL.exec(text);
  assert.equal(m, null, `${what}: raw control character U+${m?.[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${m?.index}: ${JSON.stringify(text.slice(Math.max(0, (m?.index ?? 0) - 40), (m?.index ?? 0) + 40))}`);
}

function assertNoPollution(): void {
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), PROTO_NAMES);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
}
const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();

test('the hostile capture really carries the hostile strings (it reads back with them)', () => {
  const c = readCaptureFile(hostileFile, { onEvent: () => {} });
  assert.equal(c.cut, false);
  assert.equal(c.damage, undefined);
  assert.equal(c.events, HOSTILE.length * 11);
  assert.ok(c.header.host.includes('\x1b[2J'));
  assert.ok(c.header.argv.some((a) => a.includes('\x1b]52;')));
  assert.ok(c.header.argv.some((a) => a.includes('\ufffd')), 'the invalid UTF-8 reads as replacement characters');
  assert.ok([...c.symbols.values()].includes('__proto__'));
  assert.ok([...c.processes.values()].some((p) => p.vm?.includes('\x1b[2J')), 'VM names too');
});

test('report (text) of a hostile capture: exit 0, no raw control byte, nothing written anywhere', () => {
  const before = snapshot(root);
  const r = report(hostileFile, false);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assertPrintable(r.stdout, 'report text');
  // The hostile strings are there, escaped: shown, not obeyed.
  assert.match(r.stdout, /\\x1b\[2J\\x1b\[H/);
  assert.match(r.stdout, /\\x1b\]52;c;cHduZWQ=\\x07/);
  assert.match(r.stdout, /\\x9b2J/);
  assert.match(r.stdout, /\\u202egnp\.exe/);
  // A newline inside a name cannot forge a line of the report.
  assert.doesNotMatch(r.stdout, /^\s*LEAKED\s+forged line/m);
  assert.match(r.stdout, /more characters\)/, 'a 100,000-character name is cut in text');
  assert.ok(r.stdout.length < 2_000_000, `text report is ${r.stdout.length} characters`);
  assert.deepEqual(snapshot(root), before, 'no file appeared or changed under cwd, HOME or the capture folder');
});

test('report --json of a hostile capture: exit 0, valid JSON that keeps the strings, nothing written anywhere', () => {
  const before = snapshot(root);
  const r = report(hostileFile, true);
  assert.equal(r.status, 0, r.stderr);
  // JSON.stringify escapes C0 controls; report escapes C1 (an 8-bit CSI) and bidi overrides too.
  assertPrintable(r.stdout, 'report --json');
  const j = JSON.parse(r.stdout) as Report;
  assert.equal(j.format, 'iommutrace-report/1');
  assert.equal(j.capture.host, HOSTILE[0] + HOSTILE[2], 'data is kept exactly, escaped only by JSON');
  assert.equal(j.events.total, HOSTILE.length * 11);
  // Probe names used as keys stay keys: '__proto__' is an own property, not a prototype.
  assert.ok(Object.prototype.hasOwnProperty.call(j.latency, '__proto__'), 'latency has a "__proto__" key of its own');
  assert.equal(Object.getPrototypeOf(j.latency), Object.prototype);
  assert.ok(j.groups.some((g) => g.leaked.some((l) => l.taker.includes('\x1b]52;'))), 'hostile takers are reported as data');
  // Walk callbacks symbolized as __proto__ and constructor are counted under those names, none lost.
  const byCallback = j.dirty.by_callback;
  assert.ok(Object.prototype.hasOwnProperty.call(byCallback, '__proto__') && Object.prototype.hasOwnProperty.call(byCallback, 'constructor'));
  assert.equal(Object.values(byCallback).reduce((a, b) => a + b, 0), j.dirty.walks);
  assertNoPollution();
  assert.deepEqual(snapshot(root), before, 'no file appeared or changed under cwd, HOME or the capture folder');
});

test('structural hostility (__proto__ and constructor kinds, a string longer than its frame, a 16 GiB frame): exit 2 and a report of what was read', () => {
  const before = snapshot(root);
  const r = report(structuralFile, false);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stdout, /damage\s+frame at byte \d+/);
  assertPrintable(r.stdout, 'report text');
  const j = report(structuralFile, true);
  assert.equal(j.status, 2, j.stderr);
  const parsed = JSON.parse(j.stdout) as Report;
  assert.match(parsed.capture.damage ?? '', /frame at byte \d+/);
  assertNoPollution();
  assert.deepEqual(snapshot(root), before, 'no file appeared or changed');
});

test('a column named __proto__: read or refused, either way one clean line or a clean report, nothing polluted or written', () => {
  const before = snapshot(root);
  for (const json of [false, true]) {
    const r = report(protoColumnFile, json);
    assert.ok(r.status === 0 || r.status === 1 || r.status === 2, `exit ${r.status}`);
    assert.ok(!hasStackTrace(r.stderr), r.stderr);
    assertPrintable(r.stderr, 'stderr');
    // Refused (exit 1, or 2 for a damaged header): one line and no report.
    if (r.stdout === '') assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    else if (json) JSON.parse(r.stdout);
    else assertPrintable(r.stdout, 'report text');
  }
  assertNoPollution();
  assert.deepEqual(snapshot(root), before, 'no file appeared or changed');
});

test('in process: building and rendering hostile reports leaves Object.prototype alone', () => {
  for (const f of [hostileFile, structuralFile, protoColumnFile]) {
    let rep: Report;
    try {
      rep = buildReport(f);
    } catch (err) {
      // Refusing a header is fine; what it must not do is run or pollute anything.
      assert.match((err as Error).message, /capture header is damaged/);
      assertNoPollution();
      continue;
    }
    const text = renderReport(rep);
    assertPrintable(text, path.basename(f));
    JSON.parse(JSON.stringify(rep));
    assertNoPollution();
  }
  assert.ok(!fs.existsSync(path.join(process.cwd(), 'pwned')), 'no code in the capture ran');
});
