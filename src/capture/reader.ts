import * as fs from 'node:fs';
import { crc32 } from './crc32';
import { Frame, FORMAT_VERSION, MAGIC, PREAMBLE_SIZE } from './proto';
import { CaptureHeader, ColumnType, EventKindSpec, Snapshot, Trailer } from './types';
import { CaptureEvent } from './writer';

/** A file that is not a capture we can read at all (bad magic, other version, no header). */
export class CaptureError extends Error {}

export interface CaptureContents {
  header: CaptureHeader;
  snapshots: Snapshot[];
  /** Stack addresses (hex) -> "func+0x1c [module]", as symbolized on the recording host. */
  symbols: Map<string, string>;
  trailer?: Trailer;
  /** Events read (also handed to onEvent, in order). */
  events: number;
  /** The file ends inside a frame or before the trailer: it was cut (killed, disk full). */
  cut: boolean;
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
    for (const c of k.columns) {
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

interface Cursor {
  values: number[];
  lo: number[];
  i: number;
  prev: number;
  prevLo: number;
}

const { INT, STRING, ADDR } = ColumnType;

/**
 * Reads a capture, calling onEvent for every event in order. Damage never throws
 * past the header: reading stops at the first bad frame and `damage` says where.
 */
export interface ReadCallbacks {
  /** The header, before any event. */
  onHeader?: (h: CaptureHeader) => void;
  onEvent?: (e: CaptureEvent) => void;
}

export function readCapture(buf: Buffer, cb: ReadCallbacks = {}): CaptureContents {
  const onEvent = cb.onEvent ?? (() => {});
  if (buf.length < PREAMBLE_SIZE || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new CaptureError('not an iommutrace capture (bad magic)');
  }
  const version = buf.readUInt32LE(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new CaptureError(`capture format version ${version} is not supported (this iommutrace reads version ${FORMAT_VERSION})`);
  }
  const F = Frame();
  const strings: string[] = [];
  const kinds = new Map<number, EventKindSpec>();
  const out: Omit<CaptureContents, 'header'> & { header?: CaptureHeader } = {
    snapshots: [],
    symbols: new Map(),
    events: 0,
    cut: false,
    bytes: buf.length,
  };
  let off = PREAMBLE_SIZE;
  while (off < buf.length) {
    const at = off;
    const len = readVarint(buf, off);
    if (!len || len.next + len.value + 4 > buf.length) {
      if (len && len.value > MAX_FRAME) out.damage = `frame at byte ${at} claims ${len.value} bytes`;
      out.cut = true;
      break;
    }
    if (len.value > MAX_FRAME) {
      out.damage = `frame at byte ${at} claims ${len.value} bytes`;
      break;
    }
    const payload = buf.subarray(len.next, len.next + len.value);
    off = len.next + len.value + 4;
    if (crc32(payload) !== buf.readUInt32LE(len.next + len.value)) {
      out.damage = `frame at byte ${at} is damaged (checksum mismatch)`;
      break;
    }
    let frame: Record<string, unknown>;
    try {
      frame = F.toObject(F.decode(payload), { defaults: true, arrays: true, longs: Number }) as Record<string, unknown>;
    } catch (err) {
      out.damage = `frame at byte ${at} does not decode: ${(err as Error).message}`;
      break;
    }
    if (!out.header) {
      if (!frame.header) throw new CaptureError('capture has no header frame');
      out.header = frame.header as CaptureHeader;
      const bad = checkHeader(out.header);
      if (bad) throw new CaptureError(`capture header is damaged: ${bad}`);
      for (const k of out.header.kinds) kinds.set(k.id, k);
      cb.onHeader?.(out.header);
      continue;
    }
    try {
      if (frame.strings) {
        const s = frame.strings as { firstIndex: number; values: string[] };
        if (s.firstIndex !== strings.length) throw new Error(`string table jumps from ${strings.length} to ${s.firstIndex}`);
        strings.push(...s.values);
      } else if (frame.events) {
        out.events += readBatch(frame.events as Batch, kinds, strings, onEvent);
      } else if (frame.snapshot) {
        out.snapshots.push(frame.snapshot as Snapshot);
      } else if (frame.symbols) {
        for (const s of (frame.symbols as { symbols: { address: string; name: string }[] }).symbols) out.symbols.set(s.address, s.name);
      } else if (frame.trailer) {
        out.trailer = frame.trailer as Trailer;
      }
    } catch (err) {
      out.damage = `frame at byte ${at} is inconsistent: ${(err as Error).message}`;
      break;
    }
  }
  if (!out.header) throw new CaptureError('capture is cut before its header');
  if (!out.trailer && !out.damage) out.cut = true;
  return out as CaptureContents;
}

/** Reads a capture file; an unreadable file is a CaptureError with one clear line. */
export function readCaptureFile(path: string, cb: ReadCallbacks = {}): CaptureContents {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CaptureError(`cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : (e.code ?? e.message)}`);
  }
  return readCapture(buf, cb);
}

interface Batch {
  count: number;
  tsFirstNs: number;
  tsDelta: number[];
  kind: number[];
  columns: { kind: number; index: number; values: number[]; valuesLo: number[] }[];
}

function readBatch(b: Batch, kinds: Map<number, EventKindSpec>, strings: string[], onEvent: (e: CaptureEvent) => void): number {
  if (b.tsDelta.length !== b.count || b.kind.length !== b.count) throw new Error('batch columns disagree on the event count');
  const cursors = new Map<string, Cursor>();
  for (const c of b.columns) cursors.set(`${c.kind}:${c.index}`, { values: c.values, lo: c.valuesLo, i: 0, prev: 0, prevLo: 0 });
  let ts = b.tsFirstNs;
  const events: CaptureEvent[] = [];
  for (let i = 0; i < b.count; i++) {
    ts += b.tsDelta[i];
    const kind = kinds.get(b.kind[i]);
    if (!kind) throw new Error(`unknown event kind ${b.kind[i]}`);
    const e: CaptureEvent = { kind: kind.name, ts_ns: ts };
    kind.columns.forEach((spec, index) => {
      const c = cursors.get(`${kind.id}:${index}`);
      const width = spec.width || 1;
      const vals: unknown[] = [];
      for (let j = 0; j < width; j++) {
        if (!c || c.i >= c.values.length) throw new Error(`column ${spec.name} of ${kind.name} is short`);
        const v = c.values[c.i];
        if (spec.type === STRING) {
          if (v < 0 || v >= strings.length) throw new Error(`string ${v} is not in the table`);
          vals.push(strings[v]);
        } else if (spec.type === ADDR) {
          const lo = c.lo[c.i];
          if (lo === undefined) throw new Error(`column ${spec.name} of ${kind.name} is short`);
          c.prev += v;
          c.prevLo += lo;
          vals.push((BigInt(c.prev) << 32n) | BigInt(c.prevLo >>> 0));
        } else if (spec.type === INT) {
          c.prev += v;
          vals.push(c.prev);
        }
        c.i++;
      }
      e[spec.name] = width > 1 ? vals : vals[0];
    });
    events.push(e);
  }
  // Only hand events over once the whole batch decoded: damage drops a batch, never half of one.
  for (const e of events) onEvent(e);
  return events.length;
}
