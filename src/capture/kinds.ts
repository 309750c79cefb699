import { Decoder } from '../events/decode';
import { ColumnType, EventKindSpec } from './types';
import { BATCH_FIELDS } from './writer';

const TYPE = { int: ColumnType.INT, string: ColumnType.STRING, addr: ColumnType.ADDR } as const;

/**
 * The header's event kinds, from the decoder's fields (so from BTF): every field
 * becomes a column, except what the batch carries itself. `probe` is decoded to
 * its name and stored as a string.
 */
export function captureKinds(decoder: Decoder): EventKindSpec[] {
  const out: EventKindSpec[] = [];
  for (const t of decoder.schema.types.values()) {
    const columns = (decoder.fields.get(t.kind) ?? [])
      .filter((f) => !BATCH_FIELDS.has(f.name))
      .map((f) => ({ name: f.name, type: f.name === 'probe' ? TYPE.string : TYPE[f.type], width: f.width }));
    out.push({ id: t.id, name: t.kind, columns });
  }
  return out;
}
