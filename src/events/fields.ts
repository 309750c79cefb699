import { FieldLayout } from '../loader/btf';

/** How a decoded field is stored: integer, string, or exact 64-bit address; width > 1 for arrays. */
export interface FieldSpec {
  name: string;
  type: 'int' | 'string' | 'addr';
  width: number;
}

/** Fields of this typedef are addresses: exact bigints rather than numbers. */
export const ADDR_TYPEDEF = 'it_addr_t';
/** Kernel clock readings: exact bigints too (they pass 2^53 after 104 days up). */
export const TIME_TYPEDEF = 'it_time_t';

function exact(f: { size: number; typedef?: string }): boolean {
  return f.size === 8 && (f.typedef === ADDR_TYPEDEF || f.typedef === TIME_TYPEDEF);
}

/**
 * The one mapping from a BTF field to what user space holds: the decoder, the
 * capture's columns and the generated interfaces (src/generated/bpf.ts) all use it.
 */
export function fieldSpec(name: string, f: FieldLayout): FieldSpec | undefined {
  switch (f.kind) {
    case 'uint':
    case 'int':
    case 'enum':
      return { name, type: exact(f) ? 'addr' : 'int', width: 1 };
    case 'ptr':
      return { name, type: 'addr', width: 1 };
    case 'char':
      return { name, type: 'string', width: 1 };
    case 'array':
      return { name, type: exact(f.element!) ? 'addr' : 'int', width: f.count! };
    default:
      return undefined;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An event struct's fields as events carry them: the header's at the top level
 * (`hdr.pid` -> `pid`), then the struct's own; nested members other than the
 * header's are left out.
 */
export function eventFields(fields: FieldLayout[]): { field: FieldLayout; spec: FieldSpec }[] {
  const out: { field: FieldLayout; spec: FieldSpec }[] = [];
  for (const f of fields) {
    const name = f.name.startsWith('hdr.') ? f.name.slice(4) : f.name;
    if (!IDENT.test(name)) continue;
    const spec = fieldSpec(name, f);
    if (spec) out.push({ field: f, spec });
  }
  return out;
}
