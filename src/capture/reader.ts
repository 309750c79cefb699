import * as fs from 'node:fs';
import { RawEvent } from '../events/types';
import { lacking } from './columns';
import { crc32 } from './crc32';
import { Frame, FORMAT_VERSION, MAGIC, PREAMBLE_SIZE } from './proto';
import { BatchEvents, COLUMN_NAME, readBatch } from './batch';
import { MAX_FACT_CHARS, MAX_PROCESS_FACTS, type ProcessFacts } from '../process/facts';
import { CaptureHeader, EventKindSpec, Snapshot, Trailer } from './types';
import { readEventsFrame, type Batch } from './wire';

/**
 * A file that is not a capture we can read at all (bad magic, other version, no
 * header). `damaged`: it is a capture, but its header is damaged or unusable by
 * this build (the CLI exits 2 for damage, 1 otherwise).
 */
export class CaptureError extends Error {
  constructor(
    message: string,
    readonly damaged = false,
  ) {
    super(message);
  }
}

export interface CaptureContents {
  header: CaptureHeader;
  snapshots: Snapshot[];
  /** Stack addresses (hex) -> "func+0x1c [module]", as symbolized on the recording host. */
  symbols: Map<string, string>;
  /** Facts of processes by pid, as read on the recording host (empty in captures recorded before process frames). */
  processes: Map<number, ProcessFacts>;
  /** Events whose process the recording host did not look up (its table was full). */
  processesUnread: number;
  trailer?: Trailer;
  /** Events read (also handed to onEvent, in order). */
  events: number;
  /** Events of kinds this build does not know (a newer recorder's): read past, not handed over. */
  skipped: number;
  /** The file ends inside a frame or before the trailer: it was cut (killed, disk full). */
  cut: boolean;
  /** When cut: the byte where the last, incomplete frame starts. */
  cutAt?: number;
  /** Where and how the file is damaged, when a frame is corrupt; reading stopped there. */
  damage?: string;
  bytes: number;
}

/** Frames larger than this are taken as damage rather than allocated. */
const MAX_FRAME = 256 << 20;

/** Bounds a header must respect, so a damaged or hostile one cannot make reading hang. */
function checkHeader(h: CaptureHeader): string | undefined {
  if (!Array.isArray(h.kinds) || h.kinds.length > 64) return 'too many event kinds';
  for (const k of h.kinds) {
    if (k.columns.length > 256) return `event kind ${k.name} has too many columns`;
    const names = new Set(['kind', 'ts_ns']);
    for (const c of k.columns) {
      // Column names become event fields: plain identifiers only, never __proto__ or a duplicate.
      if (!COLUMN_NAME.test(c.name) || c.name === '__proto__' || names.has(c.name)) return `event kind ${k.name} has a bad column name ${JSON.stringify(c.name.slice(0, 40))}`;
      names.add(c.name);
      if (c.type < 0 || c.type > 2) return `column ${c.name} has an unknown type ${c.type}`;
      if (c.width > 4096) return `column ${c.name} is ${c.width} values wide`;
    }
  }
  return undefined;
}

function readVarint(buf: Buffer, off: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (off + i >= buf.length) return undefined;
    const b = buf[off + i];
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return { value, next: off + i + 1 };
  }
  return { value: Infinity, next: off + 5 };
}

export interface ReadCallbacks {
  /** The header, before any event. */
  onHeader?: (h: CaptureHeader) => void;
  onEvent?: (e: RawEvent) => void;
}

/** Where frames are read from: a whole buffer, or a file read frame by frame. */
interface ByteSource {
  size: number;
  /** Up to len bytes at pos (fewer at the end). */
  read(pos: number, len: number): Buffer;
  /** The same, valid only until the next peek: walking a whole file allocates nothing per frame. */
  peek(pos: number, len: number): Buffer;
}

function bufferSource(buf: Buffer): ByteSource {
  const read = (pos: number, len: number) => buf.subarray(pos, pos + len);
  return { size: buf.length, read, peek: read };
}

function fileSource(fd: number): ByteSource {
  // A buffer per frame made the opening walk over a 240 MB capture leave as much
  // garbage, and the replaying export's resident size grew by 50 MB before its first event.
  let scratch = Buffer.allocUnsafe(64 << 10);
  return {
    size: fs.fstatSync(fd).size,
    read(pos, len) {
      const out = Buffer.allocUnsafe(len);
      return out.subarray(0, fs.readSync(fd, out, 0, len, pos));
    },
    peek(pos, len) {
      if (len > scratch.length) scratch = Buffer.allocUnsafe(Math.max(len, scratch.length * 2));
      return scratch.subarray(0, fs.readSync(fd, scratch, 0, len, pos));
    },
  };
}

/** The first payload byte of a Frame whose body is an EventBatch (field 3, length-delimited). */
const EVENTS_TAG = (3 << 3) | 2;

/** An event frame not decoded yet: where its payload lies in the source. */
interface PendingBatch {
  at: number;
  payload: number;
  length: number;
}

/**
 * Walks the frames of a capture in order. Events frames are handed to onBatch
 * undecoded; every other frame is decoded into `out`. Damage never throws past
 * the header: the walk stops at the first bad frame and `damage` says where.
 */
/** The first frame: the header, checked (a capture without a whole one cannot be read at all). */
function headerOf(frame: Record<string, unknown>): CaptureHeader {
  if (!frame.header) throw new CaptureError('capture has no header frame', true);
  const header = frame.header as CaptureHeader;
  const bad = checkHeader(header);
  if (bad) throw new CaptureError(`capture header is damaged: ${bad}`, true);
  const lacks = header.kinds.map(lacking).find((l) => l !== undefined);
  if (lacks) throw new CaptureError(lacks, true);
  return header;
}

/** A frame after the header (other than events): strings, snapshots, symbols, processes, the trailer. Throws where inconsistent. */
function takeFrame(out: Partial<CaptureContents> & { strings: string[] }, frame: Record<string, unknown>): void {
  if (frame.strings) {
    const s = frame.strings as { firstIndex: number; values: string[] };
    if (s.firstIndex !== out.strings.length) throw new Error(`string table jumps from ${out.strings.length} to ${s.firstIndex}`);
    out.strings.push(...s.values);
  } else if (frame.snapshot) {
    out.snapshots!.push(frame.snapshot as Snapshot);
  } else if (frame.symbols) {
    for (const s of (frame.symbols as { symbols: { address: string; name: string }[] }).symbols) out.symbols!.set(s.address, s.name);
  } else if (frame.processes) {
    const p = frame.processes as { processes: { pid: number; vm: string; cgroup: string }[]; unreadEvents: number };
    addProcesses(out.processes!, p.processes);
    out.processesUnread = Math.max(out.processesUnread!, p.unreadEvents);
  } else if (frame.trailer) {
    out.trailer = frame.trailer as Trailer;
  }
}

function walk(src: ByteSource, out: Partial<CaptureContents> & { strings: string[] }, onHeader: (h: CaptureHeader) => void, onBatch: (b: PendingBatch) => boolean): void {
  const pre = src.read(0, PREAMBLE_SIZE);
  if (pre.length < PREAMBLE_SIZE || !pre.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CaptureError('not an iommutrace capture (bad magic)');
  }
  const version = pre.readUInt32LE(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new CaptureError(`capture format version ${version} is not supported (this iommutrace reads version ${FORMAT_VERSION})`);
  }
  let off = PREAMBLE_SIZE;
  while (off < src.size) {
    const at = off;
    const len = readVarint(src.peek(off, 5), 0);
    // A claim past any sane size is damage, wherever it points; only a frame that
    // could be whole but runs past the end means the file was cut.
    if (len && len.value > MAX_FRAME) {
      out.damage = `frame at byte ${at} claims ${len.value} bytes`;
      break;
    }
    if (!len || off + len.next + len.value + 4 > src.size) {
      out.cut = true;
      out.cutAt = at;
      break;
    }
    const framed = src.peek(off + len.next, len.value + 4);
    // Copied when kept past this frame: the decoded frame may point into it.
    let payload = framed.subarray(0, len.value);
    off += len.next + len.value + 4;
    if (crc32(payload) !== framed.readUInt32LE(len.value)) {
      out.damage = `frame at byte ${at} is damaged (checksum mismatch)`;
      break;
    }
    if (out.header && payload[0] === EVENTS_TAG) {
      if (!onBatch({ at, payload: at + len.next, length: len.value })) break;
      continue;
    }
    payload = Buffer.from(payload);
    const frame = decodeFrame(payload, at);
    if (typeof frame === 'string') {
      out.damage = frame;
      break;
    }
    if (!out.header) {
      out.header = headerOf(frame);
      onHeader(out.header);
      continue;
    }
    try {
      takeFrame(out, frame);
    } catch (err) {
      out.damage = `frame at byte ${at} is inconsistent: ${(err as Error).message}`;
      break;
    }
  }
  if (!out.header) throw out.damage ? new CaptureError(`capture header is damaged: ${out.damage}`, true) : new CaptureError('capture is cut before its header');
  if (!out.trailer && !out.damage && !out.cut) {
    out.cut = true;
    out.cutAt = src.size;
  }
}

/** Process facts of a Processes frame, checked: a pid is a positive integer, names are bounded, the table too. */
function addProcesses(into: Map<number, ProcessFacts>, list: { pid: number; vm: string; cgroup: string }[]): void {
  for (const p of list) {
    if (!Number.isInteger(p.pid) || p.pid <= 0) throw new Error(`process info has pid ${p.pid}`);
    if (p.vm.length > MAX_FACT_CHARS || p.cgroup.length > MAX_FACT_CHARS) throw new Error(`process ${p.pid} has a name longer than ${MAX_FACT_CHARS}`);
    if (!into.has(p.pid) && into.size >= MAX_PROCESS_FACTS) throw new Error(`more than ${MAX_PROCESS_FACTS} processes`);
    into.set(p.pid, { pid: p.pid, vm: p.vm || null, cgroup: p.cgroup || null });
  }
}

/** A frame as an object, or the line saying why it does not decode. */
function decodeFrame(payload: Buffer, at: number): Record<string, unknown> | string {
  const F = Frame();
  try {
    return F.toObject(F.decode(payload), { defaults: true, arrays: true, longs: Number }) as Record<string, unknown>;
  } catch (err) {
    return `frame at byte ${at} does not decode: ${(err as Error).message}`;
  }
}

function emptyContents(bytes: number): Omit<CaptureContents, 'header'> & { header?: CaptureHeader; strings: string[] } {
  return { snapshots: [], symbols: new Map(), processes: new Map(), processesUnread: 0, events: 0, skipped: 0, cut: false, bytes, strings: [] };
}

/** Reads a capture, calling onEvent for every event in order. */
export function readCapture(buf: Buffer, cb: ReadCallbacks = {}): CaptureContents {
  return readFrom(bufferSource(buf), cb);
}

function readFrom(src: ByteSource, cb: ReadCallbacks): CaptureContents {
  const onEvent = cb.onEvent ?? (() => {});
  const out = emptyContents(src.size);
  const kinds = new Map<number, EventKindSpec>();
  const onHeader = (h: CaptureHeader) => {
    for (const k of h.kinds) kinds.set(k.id, k);
    cb.onHeader?.(h);
  };
  walk(src, out, onHeader, (b) => {
    const read = decodeBatch(src, b, kinds, out.strings, readBatch);
    if (typeof read === 'string') {
      out.damage = read;
      return false;
    }
    out.skipped += read.skipped;
    out.events += read.events.length;
    // Outside decodeBatch: what the consumer throws is its own error, never the file's damage.
    for (const e of read.events) onEvent(e);
    return true;
  });
  const { strings: _, ...contents } = out;
  return contents as CaptureContents;
}

/** Decodes one event frame with `build` (readBatch, or BatchEvents for one event at a time): its events, or the line saying where and how it is damaged. */
function decodeBatch<T>(src: ByteSource, b: PendingBatch, kinds: Map<number, EventKindSpec>, strings: string[], build: (batch: Batch, k: typeof kinds, s: string[]) => T): T | string {
  try {
    return build(readEventsFrame(src.read(b.payload, b.length)), kinds, strings);
  } catch (err) {
    return `frame at byte ${b.at} is inconsistent: ${(err as Error).message}`;
  }
}

/** Reads a capture file; an unreadable file is a CaptureError with one clear line. */
export function readCaptureFile(path: string, cb: ReadCallbacks = {}): CaptureContents {
  const fd = openCapture(path);
  try {
    return readFrom(fileSource(fd), cb);
  } finally {
    fs.closeSync(fd);
  }
}

function openCapture(path: string): number {
  try {
    const fd = fs.openSync(path, 'r');
    if (fs.fstatSync(fd).isDirectory()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    return fd;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CaptureError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message)}`);
  }
}

/**
 * A capture opened for playing: everything but the events is read up front
 * (header, symbols, snapshots, trailer); the events are decoded one frame at a
 * time as they are asked for, so memory does not grow with the capture.
 */
export class CaptureStream {
  readonly contents: CaptureContents;
  private readonly fd: number;
  private readonly src: ByteSource;
  private readonly batches: PendingBatch[] = [];
  private readonly kinds = new Map<number, EventKindSpec>();
  private strings: string[] = [];
  private nextBatch = 0;
  private current: BatchEvents | undefined;

  constructor(path: string) {
    this.fd = openCapture(path);
    this.src = fileSource(this.fd);
    const out = emptyContents(this.src.size);
    try {
      walk(this.src, out, (h) => h.kinds.forEach((k) => this.kinds.set(k.id, k)), (b) => (this.batches.push(b), true));
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
    const { strings, ...contents } = out;
    this.strings = strings;
    this.contents = contents as CaptureContents;
  }

  /** The next frame's events, in order; undefined at the end or at damage (then contents.damage says where). */
  next(): RawEvent[] | undefined {
    const it = this.nextFrame();
    if (!it) return undefined;
    const events: RawEvent[] = [];
    for (let e = it.next(); e; e = it.next()) events.push(e);
    this.current = undefined;
    return events;
  }

  /**
   * The next event, in order, built as it is asked for (a player holds one event,
   * not a frame of them); undefined at the end or at damage. Do not mix with next().
   */
  nextEvent(): RawEvent | undefined {
    for (;;) {
      const e = this.current?.next();
      if (e) return e;
      this.current = this.nextFrame();
      if (!this.current) return undefined;
    }
  }

  /** The next event frame, checked whole; undefined at the end or at damage. */
  private nextFrame(): BatchEvents | undefined {
    if (this.nextBatch >= this.batches.length) return undefined;
    const read = decodeBatch(this.src, this.batches[this.nextBatch++], this.kinds, this.strings, (b, k, s) => new BatchEvents(b, k, s));
    if (typeof read === 'string') {
      this.contents.damage ??= read;
      this.nextBatch = this.batches.length;
      return undefined;
    }
    this.contents.skipped += read.skipped;
    this.contents.events += read.count;
    return read;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
