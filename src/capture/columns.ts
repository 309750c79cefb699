import { EVENT_FIELDS, EventKind } from '../generated/bpf';
import { ColumnType, EventKindSpec } from './types';
import { BATCH_FIELDS } from './writer';

const TYPE = { int: ColumnType.INT, string: ColumnType.STRING, addr: ColumnType.ADDR } as const;

export function knownKind(name: string): name is EventKind {
  return Object.prototype.hasOwnProperty.call(EVENT_FIELDS, name);
}

/**
 * Why a capture's event kind cannot be read as this build's events: a field
 * its interface (src/generated/bpf.ts) has that no column of the right type and
 * width carries. Checked once per header, so the events built from the columns
 * are the interfaces' shape and nothing downstream meets a missing field.
 */
export function lacking(kind: EventKindSpec): string | undefined {
  if (!knownKind(kind.name)) return undefined;
  const columns = new Map(kind.columns.map((c) => [c.name, c]));
  for (const f of EVENT_FIELDS[kind.name]) {
    if (BATCH_FIELDS.has(f.name)) continue;
    const c = columns.get(f.name);
    if (!c) return `capture kind ${kind.name} lacks column ${f.name}`;
    if (c.type !== TYPE[f.type] || (c.width || 1) !== f.width) return `capture kind ${kind.name} has column ${f.name} of another type or width`;
  }
  return undefined;
}
