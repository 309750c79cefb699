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

/** JS expression reading one scalar at `o + off`. */
function scalar(kind: FieldLayout['kind'], size: number, off: number, addr: boolean): string {
  const at = `o + ${off}`;
  if (addr && size === 8) return `b.readBigUInt64LE(${at})`;
  const signed = kind === 'int';
  switch (size) {
    case 1:
      return signed ? `b.readInt8(${at})` : `b[${at}]`;
    case 2:
      return signed ? `b.readInt16LE(${at})` : `b.readUInt16LE(${at})`;
    case 4:
      return signed ? `b.readInt32LE(${at})` : `b.readUInt32LE(${at})`;
    case 8:
      // Counts, sizes and times: exact below 2^53, which is all they need.
      return signed
        ? `(b.readInt32LE(${at} + 4) * 4294967296 + b.readUInt32LE(${at}))`
        : `(b.readUInt32LE(${at} + 4) * 4294967296 + b.readUInt32LE(${at}))`;
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
      return `str(b, o + ${f.offset}, ${f.size})`;
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
  private readonly byType = new Map<number, DecodeFn>();
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
            ? `((b.readUInt32LE(o + ${f.offset + 4}) - base.hi) * 4294967296 + (b.readUInt32LE(o + ${f.offset}) - base.lo))`
            : expression(f);
        props.push(`${name}: ${expr}`);
      }
      this.fields.set(t.kind, specs);
      const probes = [...schema.probes.entries()];
      // The generated code only holds offsets and names from our own object's BTF.
      const make = new Function('str', 'probes', `const p = new Map(probes); return function (b, o, base) {
        const e = { ${props.join(',\n')} };
        e.probe = p.get(e.probe) ?? 'unknown';
        return e;
      };`) as (s: typeof str, p: [number, string][]) => DecodeFn;
      this.byType.set(t.id, make(str, probes));
    }
  }

  /** Decodes the record at buffer[offset..offset+length); undefined for an unknown or short record. */
  decode(buffer: Buffer, offset: number, length: number): RawEvent | undefined {
    if (length < this.minSize) return undefined;
    const type = buffer.readUInt16LE(offset + this.typeOffset);
    const fn = this.byType.get(type);
    if (!fn || length < this.schema.types.get(type)!.layout.size) return undefined;
    return fn(buffer, offset, this.base);
  }
}
