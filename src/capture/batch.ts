/**
 * Events from the columns of one EventBatch (src/capture/iotrace.proto): deltas
 * undone, string indexes resolved, 64-bit addresses rebuilt from their halves.
 */
import { RawEvent } from '../events/types';
import { knownKind } from './columns';
import { ColumnType, EventKindSpec } from './types';
import { Batch, Values } from './wire';

/** What a column name must look like to become an event field (checked on every header). */
export const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

interface Cursor {
  values: Values;
  lo: Values;
  i: number;
  prev: number;
  prevLo: number;
  /** The last address built: a repeated one (a domain, mostly) costs no new bigint. */
  addr?: bigint;
}

const { STRING, ADDR } = ColumnType;

/** Scratch words for building a 64-bit address from its halves with one bigint allocation. */
const HALVES = new Uint32Array(2);
const WORD = new BigUint64Array(HALVES.buffer);

/** The next address of a column, its deltas applied (lengths checked by the caller). */
function addr(c: Cursor): bigint {
  const v = c.values[c.i];
  const lo = c.lo[c.i++];
  if (v === 0 && lo === 0 && c.addr !== undefined) return c.addr;
  c.prev += v;
  c.prevLo += lo;
  // Halves in range for every capture we write; a hostile one wraps, never throws.
  HALVES[0] = c.prevLo >>> 0;
  HALVES[1] = c.prev >>> 0;
  return (c.addr = WORD[0]);
}

/**
 * The same number, as a small integer where it is one. Column values come out of
 * float64 arrays: stored as they are, every integer field of an event would be a
 * boxed heap number of its own (8 of a DMA event's 14 fields, 128 of the 331
 * bytes allocated per event); a small integer is stored in the field itself.
 */
function int(v: number): number {
  const s = v | 0;
  return s === v ? s : v;
}

/** The next integer of a column, its delta applied. */
function next(c: Cursor): number {
  return int((c.prev += c.values[c.i++]));
}

/** The next value of a column of any type (lengths and string indexes checked by the caller). */
function value(c: Cursor, type: number, strings: string[]): unknown {
  if (type === STRING) return strings[c.values[c.i++]];
  if (type === ADDR) return addr(c);
  return next(c);
}

/** The next `width` values of a wide column (a stack), as an array. */
function many(c: Cursor, type: number, width: number, strings: string[]): unknown[] {
  const out = new Array<unknown>(width);
  for (let j = 0; j < width; j++) out[j] = value(c, type, strings);
  return out;
}

/**
 * Builds the events of one kind straight from their columns' cursors. Generated
 * once per kind, so every event is one object literal of one shape and each
 * field one inlined read (dynamic stores field by field, and a generic read per
 * value, cost most of reading a capture). Only column names checkHeader()
 * accepted reach it, each as a quoted string key, and column indexes, types and
 * widths as numbers: nothing else from the file becomes code. Only known kinds
 * whose columns cover their interface are built (the reader checks each header
 * with lacking()), so what it builds is that interface. It reads without bounds
 * checks: readBatch() checks every column of the batch before the first event.
 */
type EventMaker = (kind: string, ts: number, C: Cursor[], S: string[]) => RawEvent;

function eventMaker(kind: EventKindSpec): EventMaker {
  const fields = kind.columns.map((c, i) => {
    if (!COLUMN_NAME.test(c.name)) throw new Error(`bad column name ${JSON.stringify(c.name)}`);
    const type = Number(c.type);
    const width = Number(c.width) || 1;
    let read: string;
    if (width > 1) read = `many(C[${i}], ${type}, ${width}, S)`;
    else if (type === STRING) read = `S[C[${i}].values[C[${i}].i++]]`;
    else if (type === ADDR) read = `addr(C[${i}])`;
    else read = `next(C[${i}])`;
    return `${JSON.stringify(c.name)}: ${read}`;
  });
  return new Function('addr', 'next', 'many', `return function (kind, ts, C, S) { return { kind: kind, ts_ns: ts, ${fields.join(', ')} }; };`)(addr, next, many) as EventMaker;
}

const makers = new WeakMap<EventKindSpec, EventMaker>();

/**
 * Throws unless every column of `kind` holds the values of its `n` events in this
 * batch (string indexes inside the table), so building them cannot run short.
 */
function checkColumns(kind: EventKindSpec, cursors: (Cursor | undefined)[], n: number, strings: string[]): asserts cursors is Cursor[] {
  kind.columns.forEach((spec, index) => {
    const c = cursors[index];
    const need = n * (spec.width || 1);
    if (!c || c.values.length < need || (spec.type === ADDR && c.lo.length < need)) throw new Error(`column ${spec.name} of ${kind.name} is short`);
    if (spec.type !== STRING) return;
    for (let j = 0; j < need; j++) {
      const v = c.values[j];
      if (!(v >= 0 && v < strings.length)) throw new Error(`string ${v} is not in the table`);
    }
  });
}

type Plan = { kind: EventKindSpec; known: boolean; make: EventMaker; cursors: (Cursor | undefined)[]; n: number };

/**
 * The events of one batch, built one at a time as they are asked for, so a
 * player holds one event, not a frame of them: short-lived objects are what the
 * garbage collector handles cheaply. Events of kinds this build does not know (a
 * newer recorder's) are counted in `skipped`, not built. The constructor checks
 * the whole batch and throws on damage, before any event is handed over: damage
 * drops a batch, never half of one. Its columns are the wire reader's views,
 * valid until the next frame is read.
 */
export class BatchEvents {
  readonly skipped: number;
  /** Events it hands over in all. */
  readonly count: number;
  private readonly plans = new Map<number, Plan>();
  private i = 0;
  private ts: number;
  /** The last event's kind id and plan: events come in runs of one kind. */
  private lastId = -1;
  private last: Plan | undefined;

  constructor(
    private readonly b: Batch,
    kinds: Map<number, EventKindSpec>,
    private readonly strings: string[],
  ) {
    if (b.tsDelta.length !== b.count || b.kind.length !== b.count) throw new Error('batch columns disagree on the event count');
    const plan = (id: number): Plan => {
      let p = this.plans.get(id);
      if (!p) {
        const kind = kinds.get(id);
        if (!kind) throw new Error(`unknown event kind ${id}`);
        this.plans.set(id, (p = { kind, known: knownKind(kind.name), make: makers.get(kind) ?? eventMaker(kind), cursors: [], n: 0 }));
        makers.set(kind, p.make);
      }
      return p;
    };
    for (const c of b.columns) {
      if (c.index < 4096) plan(c.kind).cursors[c.index] = { values: c.values, lo: c.valuesLo, i: 0, prev: 0, prevLo: 0 };
    }
    for (let i = 0; i < b.count; i++) {
      const id = b.kind[i];
      if (id !== this.lastId || !this.last) {
        this.last = plan(id);
        this.lastId = id;
      }
      this.last.n++;
    }
    let skipped = 0;
    for (const p of this.plans.values()) {
      if (!p.known) skipped += p.n;
      else if (p.n > 0) checkColumns(p.kind, p.cursors, p.n, strings);
    }
    this.skipped = skipped;
    this.count = b.count - skipped;
    this.ts = b.tsFirstNs;
  }

  /** The next event, or undefined at the end of the batch. */
  next(): RawEvent | undefined {
    const b = this.b;
    while (this.i < b.count) {
      const i = this.i++;
      this.ts += b.tsDelta[i];
      const id = b.kind[i];
      let p = this.last;
      if (id !== this.lastId || !p) {
        this.last = p = this.plans.get(id)!;
        this.lastId = id;
      }
      if (p.known) return p.make(p.kind.name, this.ts, p.cursors as Cursor[], this.strings);
    }
    return undefined;
  }
}

/** The events of one batch, in order, all at once (see BatchEvents). */
export function readBatch(b: Batch, kinds: Map<number, EventKindSpec>, strings: string[]): { events: RawEvent[]; skipped: number } {
  const it = new BatchEvents(b, kinds, strings);
  const events: RawEvent[] = [];
  for (let e = it.next(); e; e = it.next()) events.push(e);
  return { events, skipped: it.skipped };
}
