import { FieldLayout } from '../loader';
import { EventSchema } from './schema';
import { RawEvent } from './types';

type DecodeFn = (b: Buffer, o: number, base: TimeBase) => RawEvent;

/** The 64-bit monotonic time events are measured from, split so that ts_ns stays exact as a number. */
export interface TimeBase {
  hi: number;
  lo: number;
}

export function timeBase(ns: bigint): TimeBase {
  return { hi: Number(ns >> 32n), lo: Number(ns & 0xffffffffn) };
}

/** How a decoded field is stored: integer, string, or exact 64-bit address; width > 1 for arrays. */
export interface FieldSpec {
  name: string;
  type: 'int' | 'string' | 'addr';
  width: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ADDR_TYPEDEF = 'it_addr_t';

/** Unsigned little-endian reads as plain byte arithmetic: cheaper than Buffer's checked readers. */
function u16(at: string): string {
  return `(b[${at}] | (b[${at} + 1] << 8))`;
}

function u32(at: string): string {
  return `((b[${at}] | (b[${at} + 1] << 8) | (b[${at} + 2] << 16)) + b[${at} + 3] * 16777216)`;
}

/** JS expression reading one scalar at `o + off`. */
function scalar(kind: FieldLayout['kind'], size: number, off: number, addr: boolean): string {
  const at = `o + ${off}`;
  if (addr && size === 8) return `b.readBigUInt64LE(${at})`;
  const signed = kind === 'int';
  switch (size) {
    case 1:
      return signed ? `b.readInt8(${at})` : `b[${at}]`;
    case 2:
      return signed ? `b.readInt16LE(${at})` : u16(at);
    case 4:
      return signed ? `(b[${at}] | (b[${at} + 1] << 8) | (b[${at} + 2] << 16) | (b[${at} + 3] << 24))` : u32(at);
    case 8:
      // Counts, sizes and times: exact below 2^53, which is all they need.
      return signed
        ? `(b.readInt32LE(${at} + 4) * 4294967296 + ${u32(at)})`
        : `(${u32(`${at} + 4`)} * 4294967296 + ${u32(at)})`;
    default:
      throw new Error(`cannot decode a ${size}-byte scalar`);
  }
}

function spec(name: string, f: FieldLayout): FieldSpec | undefined {
  switch (f.kind) {
    case 'uint':
    case 'int':
    case 'enum':
      return { name, type: f.typedef === ADDR_TYPEDEF && f.size === 8 ? 'addr' : 'int', width: 1 };
    case 'ptr':
      return { name, type: 'addr', width: 1 };
    case 'char':
      return { name, type: 'string', width: 1 };
    case 'array':
      return { name, type: f.element!.typedef === ADDR_TYPEDEF ? 'addr' : 'int', width: f.count! };
    default:
      return undefined;
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
      return f.size % 4 === 0 && f.size <= 64 ? `c${f.size}.get(b, o + ${f.offset})` : `str(b, o + ${f.offset}, ${f.size})`;
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

  get(b: Buffer, start: number): string {
    const n = this.size / 4;
    let h = 0;
    for (let i = 0; i < n; i++) h = (Math.imul(h, 31) + b.readUInt32LE(start + 4 * i)) | 0;
    const slot = (h ^ (h >>> 8) ^ (h >>> 16)) & 255;
    const base = slot * n;
    let same = this.strings[slot] !== undefined;
    for (let i = 0; same && i < n; i++) same = this.words[base + i] === b.readUInt32LE(start + 4 * i);
    if (same) return this.strings[slot];
    for (let i = 0; i < n; i++) this.words[base + i] = b.readUInt32LE(start + 4 * i);
    return (this.strings[slot] = str(b, start, this.size));
  }
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
  private readonly typeOffset: number;
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
      for (const f of t.layout.fields) {
        const name = f.name.startsWith('hdr.') ? f.name.slice(4) : f.name;
        if (!IDENT.test(name)) continue; // nested struct members other than the header
        const fs = spec(name, f);
        if (!fs) continue;
        specs.push(fs);
        // Times count from the session's base, exact as a number.
        const expr =
          name === 'ts_ns'
            ? `((${u32(`o + ${f.offset + 4}`)} - base.hi) * 4294967296 + (${u32(`o + ${f.offset}`)} - base.lo))`
            : expression(f);
        props.push(`${name}: ${expr}`);
      }
      this.fields.set(t.kind, specs);
      const probes = [...schema.probes.entries()];
      // The generated code only holds offsets and names from our own object's BTF.
      // One string cache per field width, made once per event type.
      const widths = [...new Set(t.layout.fields.filter((f) => f.kind === 'char' && f.size % 4 === 0 && f.size <= 64).map((f) => f.size))];
      const consts = widths.map((w) => `const c${w} = cache(${w});`).join(' ');
      const make = new Function('str', 'probes', 'cache', `const p = new Map(probes); ${consts} return function (b, o, base) {
        const e = { ${props.join(',\n')} };
        e.probe = p.get(e.probe) ?? 'unknown';
        return e;
      };`) as (s: typeof str, p: [number, string][], c: (size: number) => StringCache) => DecodeFn;
      this.byType[t.id] = make(str, probes, (size) => new StringCache(size));
      this.sizes[t.id] = t.layout.size;
    }
  }

  /** Decodes the record at buffer[offset..offset+length); undefined for an unknown or short record. */
  decode(buffer: Buffer, offset: number, length: number): RawEvent | undefined {
    if (length < this.minSize) return undefined;
    const at = offset + this.typeOffset;
    const type = buffer[at] | (buffer[at + 1] << 8);
    const fn = this.byType[type];
    if (!fn || length < this.sizes[type]) return undefined;
    return fn(buffer, offset, this.base);
  }
}
