import * as fs from 'node:fs';
import type { RawEvent } from '../events/types';
import { crc32 } from './crc32';
import { Frame, FORMAT_VERSION, MAGIC } from './proto';
import type { ProcessFacts } from '../process/facts';
import { CaptureHeader, ColumnType, EventKindSpec, Snapshot, Trailer } from './types';

/** An event as the pipeline carries it: its kind name, time and fields by column name. */
export type CaptureEvent = { kind: string; ts_ns: number } & Record<string, unknown>;

const { STRING, ADDR } = ColumnType;
/** Fields the batch itself carries, not columns. */
export const BATCH_FIELDS = new Set(['kind', 'ts_ns', 'type']);

class ColumnBuf {
  values: number[] = [];
  lo: number[] = [];
  prev = 0;
  prevLo = 0;
}

/**
 * Events per frame. A reader turns a whole frame into event objects at once; at
 * 1,024 (about 250 KB of them) they die in V8's young generation even at its
 * smallest, where 8,192 outlived it, were promoted and grew the old space by
 * about 100 MB between full collections while `export` replayed. The writer holds
 * at most one frame's columns. A frame costs about 0.2 bytes an event more than
 * at 8,192 (each frame restarts its deltas).
 */
export const BATCH_EVENTS = 1024;

export interface WriterOptions {
  /** Replace an existing file; without it an existing file is refused and left untouched. */
  force?: boolean;
  /** Events per batch frame before it is written out (default BATCH_EVENTS). */
  batchEvents?: number;
}

/**
 * Writes a capture frame by frame: each frame goes to the file as soon as it is
 * complete, so a process killed mid-way leaves a file readable up to its last
 * whole frame. Files are created 0600: they hold kernel addresses and command names.
 */
export class CaptureWriter {
  private readonly fd: number;
  private readonly kinds = new Map<string, EventKindSpec>();
  private readonly strings = new Map<string, number>();
  private newStrings: string[] = [];
  private firstNewString = 0;
  private count = 0;
  private tsFirst = 0;
  private tsPrev = 0;
  private tsDelta: number[] = [];
  private kindIds: number[] = [];
  private columns = new Map<string, ColumnBuf>();
  private readonly batchEvents: number;
  /** Whole events written so far, and bytes. */
  events = 0;
  bytes = 0;
  private closed = false;

  private begun = false;

  /**
   * Creates the file (failing here if it cannot be) and writes the header, or,
   * without one, leaves that to begin(): `record` creates the file before it
   * says it is recording, and encodes the header after.
   */
  constructor(
    readonly path: string,
    header: CaptureHeader | undefined,
    options: WriterOptions = {},
  ) {
    this.batchEvents = options.batchEvents ?? BATCH_EVENTS;
    // 'wx' refuses an existing file without touching it.
    this.fd = fs.openSync(path, options.force ? 'w' : 'wx', 0o600);
    if (options.force) fs.fchmodSync(this.fd, 0o600);
    if (header) this.begin(header);
  }

  /** Writes the preamble and the header frame, once, before any other frame. */
  begin(header: CaptureHeader): void {
    if (this.begun) throw new Error('the capture header is already written');
    for (const k of header.kinds) this.kinds.set(k.name, k);
    const pre = Buffer.alloc(MAGIC.length + 4);
    MAGIC.copy(pre);
    pre.writeUInt32LE(FORMAT_VERSION, MAGIC.length);
    this.write(pre);
    this.begun = true;
    this.frame({ header });
  }

  private write(buf: Uint8Array): void {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
    this.bytes += buf.length;
  }

  private frame(body: Record<string, unknown>): void {
    if (!this.begun) throw new Error('the capture header is not written yet');
    const F = Frame();
    const payload = F.encode(F.fromObject(body)).finish();
    const len: number[] = [];
    for (let n = payload.length; ; n = Math.floor(n / 128)) {
      if (n < 128) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32(payload));
    // One write per frame: a crash cuts at most the frame being written.
    this.write(Buffer.concat([Buffer.from(len), payload, crc]));
  }

  private intern(s: string): number {
    let i = this.strings.get(s);
    if (i === undefined) {
      i = this.strings.size;
      this.strings.set(s, i);
      this.newStrings.push(s);
    }
    return i;
  }

  private column(kind: number, index: number): ColumnBuf {
    const key = `${kind}:${index}`;
    let c = this.columns.get(key);
    if (!c) {
      c = new ColumnBuf();
      this.columns.set(key, c);
    }
    return c;
  }

  add(e: RawEvent | CaptureEvent): void {
    const fields: Record<string, unknown> = e;
    const kind = this.kinds.get(e.kind);
    if (!kind) throw new Error(`event kind ${e.kind} is not in the capture header`);
    if (this.count === 0) {
      this.tsFirst = e.ts_ns;
      this.tsPrev = e.ts_ns;
    }
    this.tsDelta.push(e.ts_ns - this.tsPrev);
    this.tsPrev = e.ts_ns;
    this.kindIds.push(kind.id);
    kind.columns.forEach((spec, index) => {
      const c = this.column(kind.id, index);
      const v = fields[spec.name];
      const width = spec.width || 1;
      for (let j = 0; j < width; j++) {
        const x = width > 1 ? (v as unknown[] | undefined)?.[j] : v;
        if (spec.type === STRING) {
          c.values.push(this.intern(String(x ?? '')));
        } else if (spec.type === ADDR) {
          const a = typeof x === 'bigint' ? x : BigInt((x as number | undefined) ?? 0);
          const hi = Number(a >> 32n);
          const lo = Number(a & 0xffffffffn);
          c.values.push(hi - c.prev);
          c.lo.push(lo - c.prevLo);
          c.prev = hi;
          c.prevLo = lo;
        } else {
          const n = Number(x ?? 0);
          c.values.push(n - c.prev);
          c.prev = n;
        }
      }
    });
    this.count++;
    if (this.count >= this.batchEvents) this.flush();
  }

  /** Writes the pending events (and new strings) as frames. */
  flush(): void {
    if (this.closed) return;
    if (this.newStrings.length) {
      this.frame({ strings: { firstIndex: this.firstNewString, values: this.newStrings } });
      this.firstNewString += this.newStrings.length;
      this.newStrings = [];
    }
    if (this.count === 0) return;
    const columns = [];
    for (const [key, c] of this.columns) {
      const [kind, index] = key.split(':').map(Number);
      columns.push({ kind, index, values: c.values, valuesLo: c.lo });
    }
    this.frame({
      events: { count: this.count, tsFirstNs: this.tsFirst, tsDelta: this.tsDelta, kind: this.kindIds, columns },
    });
    this.events += this.count;
    this.count = 0;
    this.tsDelta = [];
    this.kindIds = [];
    // Deltas restart in every batch, so each batch decodes on its own.
    this.columns = new Map();
  }

  snapshot(s: Snapshot): void {
    this.flush();
    this.frame({ snapshot: s });
  }

  symbols(map: Map<bigint, string>): void {
    if (map.size === 0) return;
    this.frame({ symbols: { symbols: [...map].map(([a, name]) => ({ address: a.toString(16), name })) } });
  }

  private unreadEvents = 0;

  /**
   * Facts of newly seen processes (src/process/facts.ts) in one frame, with the
   * events whose process was not looked up so far (the recorder's table was full).
   */
  processes(list: ProcessFacts[], unreadEvents = this.unreadEvents): void {
    if (list.length === 0 && unreadEvents === this.unreadEvents) return;
    this.unreadEvents = unreadEvents;
    this.frame({ processes: { processes: list.map((p) => ({ pid: p.pid, vm: p.vm ?? '', cgroup: p.cgroup ?? '' })), unreadEvents } });
  }

  /** Flushes, writes the trailer and closes. The file is complete after this. */
  close(trailer: Omit<Trailer, 'events'>): void {
    if (this.closed) return;
    this.flush();
    this.frame({ trailer: { ...trailer, events: this.events } });
    this.closed = true;
    fs.closeSync(this.fd);
  }

  /** Closes without a trailer (after a write error): the file stays readable up to its last whole frame. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already failing; the file is what it is.
    }
  }
}
