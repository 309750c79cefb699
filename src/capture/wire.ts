/**
 * A direct reader of the protobuf wire format for the one hot message, the
 * EventBatch of an events Frame (src/capture/iotrace.proto). protobufjs builds
 * an object per 64-bit value; this reads the packed columns straight into
 * arrays of numbers, several times faster. Malformed input throws an Error
 * whose message says what is wrong; every length is checked against the buffer.
 */

/** Column values: views into the reader's arena, valid until the next readEventsFrame(). */
export type Values = Float64Array | number[];

export interface Column {
  kind: number;
  index: number;
  values: Values;
  valuesLo: Values;
}

export interface Batch {
  count: number;
  tsFirstNs: number;
  tsDelta: Values;
  kind: Values;
  columns: Column[];
}

/**
 * One growing buffer the packed columns of a batch are decoded into. Touching
 * fresh memory for every batch costs more than decoding it (page faults, GC), so
 * a batch's values reuse the last batch's space.
 */
class Arena {
  private buf = new Float64Array(1 << 16);
  private used = 0;

  reset(): void {
    this.used = 0;
  }

  /** Room for up to n values; give back what was not used with commit(). */
  reserve(n: number): Float64Array {
    if (this.used + n > this.buf.length) {
      // Views already handed out keep the old buffer alive; new ones use a larger one.
      this.buf = new Float64Array(Math.max(this.buf.length * 2, n));
      this.used = 0;
    }
    return this.buf.subarray(this.used, this.used + n);
  }

  commit(view: Float64Array, n: number): Float64Array {
    this.used += n;
    return view.subarray(0, n);
  }
}

const arena = new Arena();

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

class WireReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** An unsigned varint as a number: exact below 2^53, which is all the format writes. */
  varint(): number {
    const b = this.buf;
    const end = this.end;
    let pos = this.pos;
    // Up to four bytes (28 bits, most values) in integer arithmetic.
    let value = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw new Error('a varint runs past its message');
      const byte = b[pos++];
      value |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    let scale = 2 ** 28;
    for (let i = 4; i < 10; i++, scale *= 128) {
      if (pos >= end) throw new Error('a varint runs past its message');
      const byte = b[pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = pos;
        return value;
      }
    }
    throw new Error('a varint is longer than 10 bytes');
  }

  /** A zigzag-encoded sint64. */
  svarint(): number {
    const v = this.varint();
    if (v < 0x80000000) return (v >>> 1) ^ -(v & 1);
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }

  /** The bounds of a length-delimited field's body; the reader moves past it. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (len > this.end - start) throw new Error('a field runs past its message');
    this.pos = start + len;
    return [start, this.pos];
  }

  skip(wire: number): void {
    if (wire === VARINT) this.varint();
    else if (wire === LEN) this.span();
    else if (wire === I64 || wire === I32) {
      this.pos += wire === I64 ? 8 : 4;
      if (this.pos > this.end) throw new Error('a field runs past its message');
    } else throw new Error(`unknown wire type ${wire}`);
  }

  /** A repeated integer field's values so far plus this occurrence (packed or not). */
  repeated(wire: number, so: Values, signed: boolean): Values {
    // Unpacked or split fields (never written by us) grow a plain array in place.
    const grow = () => (Array.isArray(so) ? so : Array.from(so));
    if (wire === VARINT) {
      const out = grow();
      out.push(signed ? this.svarint() : this.varint());
      return out;
    }
    if (wire !== LEN) throw new Error(`a repeated integer has wire type ${wire}`);
    const [start, end] = this.span();
    const room = arena.reserve(end - start);
    const u = uniform(this.buf, start, end);
    const n = u >= 0 ? room.fill(signed ? (u >>> 1) ^ -(u & 1) : u).length : packed(this.buf, start, end, room, signed);
    if (n < 0) throw new Error('a packed field ends inside a varint');
    const values = arena.commit(room, n);
    if (!so.length) return values;
    const out = grow();
    for (const v of values) out.push(v);
    return out;
  }
}

/** Spans are compared in pieces of this many bytes. */
const PIECE = 4096;

/** PIECE copies of a byte, per byte value met: the spans to compare with. */
const repeats: (Buffer | undefined)[] = [];

/** Spans shorter than this are decoded rather than compared (the comparison's fixed cost). */
const MIN_COMPARED = 64;

/**
 * The byte that every byte of buf[start..end) is, when that byte is a whole
 * varint: a column whose value never changes in the batch (deltas of 0 for a
 * pid or a domain; one kind, one string), one byte per value. A native
 * comparison reads it many times faster than decoding it. Otherwise -1.
 */
function uniform(buf: Uint8Array, start: number, end: number): number {
  if (end - start < MIN_COMPARED) return -1;
  const b = buf[start];
  if (b >= 0x80) return -1;
  const same = (repeats[b] ??= Buffer.alloc(PIECE, b));
  for (let at = start; at < end; at += PIECE) {
    const len = Math.min(PIECE, end - at);
    if (Buffer.prototype.compare.call(buf, same, 0, len, at, at + len) !== 0) return -1;
  }
  return b;
}

/**
 * Decodes the varints of buf[start..end) into out, zigzag-decoded when signed;
 * returns how many, or -1 when the last runs past end. The hot loop of reading
 * a capture: one- and two-byte values stay on an integer path.
 */
function packed(buf: Uint8Array, start: number, end: number, out: Float64Array, signed: boolean): number {
  let pos = start;
  let n = 0;
  let tail = true;
  while (pos < end) {
    const b0 = buf[pos];
    let v: number;
    if (b0 < 0x80) {
      // A value that stops changing after its first values in the batch: the rest are zero bytes.
      if (b0 === 0 && tail) {
        tail = false;
        if (uniform(buf, pos, end) === 0) {
          out.fill(0, n, n + end - pos);
          return n + end - pos;
        }
      }
      v = b0;
      pos += 1;
    } else if (pos + 1 < end && buf[pos + 1] < 0x80) {
      v = (b0 & 0x7f) | (buf[pos + 1] << 7);
      pos += 2;
    } else {
      const r = new WireReader(buf, pos, end);
      try {
        v = r.varint();
      } catch {
        return -1;
      }
      pos = r.pos;
      if (signed && v >= 0x80000000) {
        out[n++] = v % 2 === 0 ? v / 2 : -(v + 1) / 2;
        continue;
      }
    }
    out[n++] = signed ? (v >>> 1) ^ -(v & 1) : v;
  }
  return n;
}

/**
 * Calls read(field, wire) for each field of the message at buf[start..end);
 * read consumes the fields it knows and returns false for the rest, which are skipped.
 */
function fields(buf: Uint8Array, start: number, end: number, read: (r: WireReader, field: number, wire: number) => boolean): void {
  const r = new WireReader(buf, start, end);
  while (r.pos < end) {
    const tag = r.varint();
    const wire = tag % 8;
    if (!read(r, Math.floor(tag / 8), wire)) r.skip(wire);
  }
}

function readColumn(buf: Uint8Array, start: number, end: number): Column {
  const c: Column = { kind: 0, index: 0, values: [], valuesLo: [] };
  fields(buf, start, end, (r, field, wire) => {
    if (field === 1 && wire === VARINT) c.kind = r.varint();
    else if (field === 2 && wire === VARINT) c.index = r.varint();
    else if (field === 3) c.values = r.repeated(wire, c.values, true);
    else if (field === 4) c.valuesLo = r.repeated(wire, c.valuesLo, true);
    else return false;
    return true;
  });
  return c;
}

function readBatchMessage(buf: Uint8Array, start: number, end: number): Batch {
  const b: Batch = { count: 0, tsFirstNs: 0, tsDelta: [], kind: [], columns: [] };
  fields(buf, start, end, (r, field, wire) => {
    if (field === 1 && wire === VARINT) b.count = r.varint();
    else if (field === 2 && wire === VARINT) b.tsFirstNs = r.varint();
    else if (field === 3) b.tsDelta = r.repeated(wire, b.tsDelta, true);
    else if (field === 4) b.kind = r.repeated(wire, b.kind, false);
    else if (field === 5 && wire === LEN) b.columns.push(readColumn(buf, ...r.span()));
    else return false;
    return true;
  });
  return b;
}

/**
 * The EventBatch of an events Frame's payload (the last, should a hostile frame
 * hold several). Its values live until the next call.
 */
export function readEventsFrame(payload: Uint8Array): Batch {
  arena.reset();
  let batch: [number, number] | undefined;
  fields(payload, 0, payload.length, (r, field, wire) => field === 3 && wire === LEN && Boolean((batch = r.span())));
  if (!batch) throw new Error('an events frame holds no batch');
  return readBatchMessage(payload, batch[0], batch[1]);
}
