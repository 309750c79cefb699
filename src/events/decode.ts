import { FieldLayout } from '../loader';
import { ADDR_TYPEDEF, eventFields, FieldSpec } from './fields';
import { EventSchema } from './schema';
import { RawEvent } from './types';

export type { FieldSpec } from './fields';

/**
 * A compiled decoder for one event type. The record starts at byte o of b, which
 * is 8-byte aligned; w and q view the same memory as 32- and 64-bit words, with
 * the record at w[i] and q[i / 2]. Typed-array reads are cheaper than byte
 * arithmetic, and far cheaper than readBigUInt64LE for addresses.
 */
type DecodeFn = (b: Buffer, o: number, base: TimeBase, w: Uint32Array, q: BigUint64Array, i: number) => RawEvent;

/** The 64-bit monotonic time events are measured from, split so that ts_ns stays exact as a number. */
export interface TimeBase {
  hi: number;
  lo: number;
}

export function timeBase(ns: bigint): TimeBase {
  return { hi: Number(ns >> 32n), lo: Number(ns & 0xffffffffn) };
}


/** Unsigned little-endian bytes, for the rare field that is not naturally aligned. */
function bytes(off: number, size: number): string {
  const parts = [];
  for (let k = 0; k < size; k++) parts.push(`b[o + ${off + k}] * ${2 ** (8 * k)}`);
  return `(${parts.join(' + ')})`;
}

/** JS expression reading one scalar at byte `off` of the record. */
function scalar(kind: FieldLayout['kind'], size: number, off: number, addr: boolean): string {
  const signed = kind === 'int';
  if (off % size !== 0 || ![1, 2, 4, 8].includes(size)) {
    if (addr || signed || size > 6) throw new Error(`cannot decode a ${size}-byte field at offset ${off}`);
    return bytes(off, size);
  }
  const w = (k: number) => `w[i + ${off / 4 + k}]`;
  switch (size) {
    case 1:
      return signed ? `((b[o + ${off}] << 24) >> 24)` : `b[o + ${off}]`;
    case 2:
      return signed ? `(((b[o + ${off}] | (b[o + ${off + 1}] << 8)) << 16) >> 16)` : `(b[o + ${off}] | (b[o + ${off + 1}] << 8))`;
    case 4:
      return signed ? `(${w(0)} | 0)` : w(0);
    default:
      // Addresses are exact bigints; counts, sizes and times exact below 2^53, which is all they need.
      if (addr) return `q[(i >> 1) + ${off / 8}]`;
      return signed ? `((${w(1)} | 0) * 4294967296 + ${w(0)})` : `(${w(1)} * 4294967296 + ${w(0)})`;
  }
}

function expression(f: FieldLayout): string | undefined {
  switch (f.kind) {
    case 'uint':
    case 'int':
    case 'enum':
      return scalar(f.kind, f.size, f.offset, f.typedef === ADDR_TYPEDEF);
    case 'ptr':
      return scalar('uint', 8, f.offset, true);
    case 'char':
      return cached(f) ? `c${f.size}.get(b, o + ${f.offset}, w, i + ${f.offset / 4})` : `str(b, o + ${f.offset}, ${f.size})`;
    case 'array': {
      const el = f.element!;
      const items: string[] = [];
      for (let i = 0; i < f.count!; i++) items.push(scalar(el.kind, el.size, f.offset + i * el.size, el.typedef === ADDR_TYPEDEF));
      return `[${items.join(', ')}]`;
    }
    default:
      return undefined; // nested structs are decoded through their flattened fields
  }
}

/**
 * Fixed-size C strings (comm, device names) repeat from event to event: a small
 * direct-mapped cache keyed by their 32-bit words skips building the same string.
 */
class StringCache {
  private readonly words: Uint32Array;
  private readonly strings: string[] = [];

  constructor(private readonly size: number) {
    this.words = new Uint32Array(256 * (size / 4));
  }

  /** The string at b[start..]; w[wi..] are the same bytes as 32-bit words. */
  get(b: Buffer, start: number, w: Uint32Array, wi: number): string {
    const n = this.size / 4;
    let h = 0;
    for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + w[wi + i]) | 0;
    const slot = (h ^ (h >>> 8) ^ (h >>> 16)) & 255;
    const base = slot * n;
    let same = this.strings[slot] !== undefined;
    for (let i = 0; same && i < n; i++) same = this.words[base + i] === w[wi + i];
    if (same) return this.strings[slot];
    for (let i = 0; i < n; i++) this.words[base + i] = w[wi + i];
    return (this.strings[slot] = str(b, start, this.size));
  }
}

/** Char arrays read through the string cache: whole 32-bit words, aligned. */
function cached(f: FieldLayout): boolean {
  return f.kind === 'char' && f.size % 4 === 0 && f.offset % 4 === 0 && f.size <= 64;
}

function str(b: Buffer, start: number, max: number): string {
  const end = b.indexOf(0, start);
  return b.toString('latin1', start, end < 0 || end > start + max ? start + max : end);
}

/**
 * Turns ring-buffer records into plain objects. One decoder per event type is
 * compiled from the BTF layout when the schema is loaded: header fields at the
 * top level (`ts_ns`, `pid`, ...), then the type's own fields by their C names.
 */
export class Decoder {
  /** Indexed by event type id: the hot path avoids Map lookups. */
  private readonly byType: (DecodeFn | undefined)[] = [];
  private readonly sizes: number[] = [];
  /** Where hdr.type is in a record (its flag bits are above the kind). */
  readonly typeOffset: number;
  readonly minSize: number;
  /** Per event kind, its fields in decode order (the header's first). */
  readonly fields = new Map<string, FieldSpec[]>();
  /** Event times are decoded relative to this (the start of the session). */
  base: TimeBase = { hi: 0, lo: 0 };

  constructor(readonly schema: EventSchema) {
    this.typeOffset = schema.field(schema.header, 'type').offset;
    this.minSize = schema.header.size;
    for (const t of schema.types.values()) {
      const props = [`kind: ${JSON.stringify(t.kind)}`];
      const specs: FieldSpec[] = [];
      for (const { field: f, spec: fs } of eventFields(t.layout.fields)) {
        const name = fs.name;
        specs.push(fs);
        // Times count from the session's base, exact as a number.
        const expr =
          name === 'ts_ns'
            ? `((w[i + ${f.offset / 4 + 1}] - base.hi) * 4294967296 + (w[i + ${f.offset / 4}] - base.lo))`
            : name === 'probe'
              ? `(p[${expression(f)}] ?? 'unknown')`
              : expression(f);
        props.push(`${name}: ${expr}`);
      }
      this.fields.set(t.kind, specs);
      const probes: string[] = [];
      for (const [id, probe] of schema.probes) probes[id] = probe;
      // The generated code only holds offsets and names from our own object's BTF.
      // One string cache per field width, made once per event type.
      const widths = [...new Set(t.layout.fields.filter(cached).map((f) => f.size))];
      const consts = widths.map((w) => `const c${w} = cache(${w});`).join(' ');
      const make = new Function('str', 'p', 'cache', `${consts} return function (b, o, base, w, q, i) {
        return { ${props.join(',\n')} };
      };`) as (s: typeof str, p: string[], c: (size: number) => StringCache) => DecodeFn;
      this.byType[t.id] = make(str, probes, (size) => new StringCache(size));
      this.sizes[t.id] = t.layout.size;
    }
  }

  /** Decodes the record at buffer[offset..offset+length); undefined for an unknown or short record. */
  decode(buffer: Buffer, offset: number, length: number): RawEvent | undefined {
    if (length < this.minSize) return undefined;
    const t = offset + this.typeOffset;
    const type = buffer[t] | (buffer[t + 1] << 8);
    const fn = this.byType[type];
    if (!fn || length < this.sizes[type]) return undefined;
    if (buffer !== this.viewOf) this.view(buffer);
    const at = this.skew + offset;
    if ((at & 7) !== 0) return this.unaligned(fn, buffer, offset, length);
    return fn(buffer, offset, this.base, this.w32, this.w64, at >> 2);
  }

  /** Ring records are 8-byte aligned; anything else is decoded from an aligned copy. */
  private unaligned(fn: DecodeFn, buffer: Buffer, offset: number, length: number): RawEvent {
    if (this.scratch.length < length) this.scratch = aligned(length);
    buffer.copy(this.scratch, 0, offset, offset + length);
    this.view(this.scratch);
    return fn(this.scratch, 0, this.base, this.w32, this.w64, 0);
  }

  /** The buffer the word views below are over (a batch's records share one buffer). */
  private viewOf: Buffer | undefined;
  private w32: Uint32Array = new Uint32Array(0);
  private w64: BigUint64Array = new BigUint64Array(0);
  /** Byte offset of the buffer's start from the views' start (reading byteOffset per record is slow). */
  private skew = 0;
  private scratch = aligned(256);

  private view(buffer: Buffer): void {
    const start = (buffer.byteOffset + 7) & ~7;
    const words = Math.max(0, (buffer.byteOffset + buffer.length - start) >> 3);
    this.w32 = new Uint32Array(buffer.buffer, start, words * 2);
    this.w64 = new BigUint64Array(buffer.buffer, start, words);
    this.skew = buffer.byteOffset - start;
    this.viewOf = buffer;
  }
}

/** A buffer of its own (byte offset 0, so 8-byte aligned). */
function aligned(size: number): Buffer {
  return Buffer.from(new ArrayBuffer((size + 7) & ~7));
}
