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
}

const { STRING, ADDR } = ColumnType;

/** Scratch words for building a 64-bit address from its halves with one bigint allocation. */
const HALVES = new Uint32Array(2);
const WORD = new BigUint64Array(HALVES.buffer);

/** The next value of a column, its delta applied (a string index resolved). */
function nextValue(c: Cursor | undefined, spec: EventKindSpec['columns'][number], kind: string, strings: string[]): unknown {
  if (!c || c.i >= c.values.length) throw new Error(`column ${spec.name} of ${kind} is short`);
  const v = c.values[c.i];
  switch (spec.type) {
    case STRING:
      if (!(v >= 0 && v < strings.length)) throw new Error(`string ${v} is not in the table`);
      c.i++;
      return strings[v];
    case ADDR: {
      const lo = c.lo[c.i];
      if (lo === undefined) throw new Error(`column ${spec.name} of ${kind} is short`);
      c.i++;
      c.prev += v;
      c.prevLo += lo;
      // Halves in range for every capture we write; a hostile one wraps, never throws.
      HALVES[0] = c.prevLo >>> 0;
      HALVES[1] = c.prev >>> 0;
      return WORD[0];
    }
    default: // INT
      c.i++;
      c.prev += v;
      return c.prev;
  }
}

/**
 * Builds the events of one kind from the values of their columns, in column
 * order. Generated once per kind so every event is one object literal of one
 * shape (dynamic stores field by field cost most of reading a capture). Only
 * column names checkHeader() accepted reach it, each as a quoted string key:
 * nothing else from the file becomes code. Only known kinds whose columns cover
 * their interface are built (the reader checks each header with lacking()), so
 * what it builds is that interface.
 */
type EventMaker = (kind: string, ts: number, v: unknown[]) => RawEvent;

function eventMaker(kind: EventKindSpec): EventMaker {
  const fields = kind.columns.map((c, i) => {
    if (!COLUMN_NAME.test(c.name)) throw new Error(`bad column name ${JSON.stringify(c.name)}`);
    return `${JSON.stringify(c.name)}: v[${i}]`;
  });
  return new Function(`return function (kind, ts, v) { return { kind: kind, ts_ns: ts, ${fields.join(', ')} }; };`)() as EventMaker;
}

const makers = new WeakMap<EventKindSpec, EventMaker>();

/**
 * The events of one batch, in order; events of kinds this build does not know
 * (a newer recorder's) are counted in `skipped`, not built. Throws on damage,
 * before any event is handed over: damage drops a batch, never half of one.
 */
export function readBatch(b: Batch, kinds: Map<number, EventKindSpec>, strings: string[]): { events: RawEvent[]; skipped: number } {
  if (b.tsDelta.length !== b.count || b.kind.length !== b.count) throw new Error('batch columns disagree on the event count');
  // Per kind id: its spec, how its events are built and the batch's cursors by column index.
  const plans = new Map<number, { kind: EventKindSpec; known: boolean; make: EventMaker; values: unknown[]; cursors: (Cursor | undefined)[] }>();
  const plan = (id: number) => {
    let p = plans.get(id);
    if (!p) {
      const kind = kinds.get(id);
      if (!kind) throw new Error(`unknown event kind ${id}`);
      plans.set(id, (p = { kind, known: knownKind(kind.name), make: makers.get(kind) ?? eventMaker(kind), values: new Array(kind.columns.length), cursors: [] }));
      makers.set(kind, p.make);
    }
    return p;
  };
  for (const c of b.columns) {
    if (c.index < 4096) plan(c.kind).cursors[c.index] = { values: c.values, lo: c.valuesLo, i: 0, prev: 0, prevLo: 0 };
  }
  let ts = b.tsFirstNs;
  const events: RawEvent[] = [];
  let skipped = 0;
  for (let i = 0; i < b.count; i++) {
    ts += b.tsDelta[i];
    const { kind, known, make, values, cursors } = plan(b.kind[i]);
    if (!known) {
      skipped++;
      continue;
    }
    const specs = kind.columns;
    for (let index = 0; index < specs.length; index++) {
      const spec = specs[index];
      const c = cursors[index];
      const width = spec.width || 1;
      if (width === 1) {
        values[index] = nextValue(c, spec, kind.name, strings);
        continue;
      }
      const vals = new Array<unknown>(width);
      for (let j = 0; j < width; j++) vals[j] = nextValue(c, spec, kind.name, strings);
      values[index] = vals;
    }
    events.push(make(kind.name, ts, values));
  }
  return { events, skipped };
}
