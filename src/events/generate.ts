import { BpfObject, Btf, StructLayout } from '../loader';
import { eventFields, fieldSpec, FieldSpec } from './fields';
import { EventSchema } from './schema';

/*
 * Writes the typed layer of the BPF object (src/generated/bpf.ts) from what the
 * object itself holds: its BTF (enums, event structs, map definitions, .rodata)
 * and its program table. bpf2go and libbpf skeletons do the same for Go and C.
 */

/** it_group_ref -> GroupRef; it_hist_key -> HistKey. */
function pascal(name: string): string {
  return name
    .replace(/^it_/, '')
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

const TS_TYPE: Record<FieldSpec['type'], string> = { int: 'number', string: 'string', addr: 'bigint' };

function tsType(s: FieldSpec): string {
  return s.width > 1 ? `${TS_TYPE[s.type]}[]` : TS_TYPE[s.type];
}

function key(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `'${name}'`;
}

/** Entries filled into lines of up to 120 columns: these are tables of data, read by name. */
function filled(items: string[]): string {
  const lines: string[] = [];
  for (const item of items) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + item.length + 1 <= 120) lines[last] += ` ${item}`;
    else lines.push(`  ${item}`);
  }
  return lines.join('\n');
}

function constTable(doc: string, name: string, typeName: string, entries: [string, string][]): string {
  const body = filled(entries.map(([k, v]) => `${key(k)}: ${v},`));
  return `/** ${doc} */\nexport const ${name} = {\n${body}\n} as const;\nexport type ${typeName} = keyof typeof ${name};\n`;
}

/** What events carry of a struct: the header's fields at the top level; `type` is stood for by `kind`. */
function carried(layout: StructLayout): FieldSpec[] {
  return eventFields(layout.fields)
    .map((f) => (f.spec.name === 'probe' ? { ...f.spec, type: 'string' as const } : f.spec))
    .filter((s) => s.name !== 'type');
}

function fieldType(s: FieldSpec): string {
  return s.name === 'probe' ? "ProbeName | 'unknown'" : tsType(s);
}

/** Map definitions from the .maps section: `__uint(type, N)` is a pointer to an array of N, `__type(key, T)` a pointer to T. */
function maps(btf: Btf): { name: string; type: number; maxEntries: number; key: string | null; value: string | null }[] {
  const sec = btf.find('.maps', 'datasec');
  if (!sec) throw new Error('the BPF object has no .maps section');
  return sec.vars!.map((v) => {
    const def = btf.resolve(btf.type(v.typeId).typeId!);
    const m = new Map((def.members ?? []).map((x) => [x.name, btf.type(x.typeId)]));
    const number = (n: string) => {
      const p = m.get(n);
      return p ? btf.type(p.typeId!).nelems! : 0;
    };
    const typeName = (n: string) => {
      const p = m.get(n);
      return p ? btf.typeName(p.typeId!).replace(/^struct /, '') : null;
    };
    return { name: btf.type(v.typeId).name, type: number('type'), maxEntries: number('max_entries'), key: typeName('key'), value: typeName('value') };
  });
}

/** Flat structs only: the carrier of the event layouts (it_layouts) nests structs and is never read. */
function flat(btf: Btf, name: string): boolean {
  const s = btf.struct(name);
  return s !== undefined && s.fields.every((f) => ['uint', 'int', 'enum', 'array', 'char'].includes(f.kind));
}

function structLayout(btf: Btf, name: string): string {
  const s = btf.struct(name)!;
  const fields = s.fields.map((f) => {
    const el = f.element ? `, count: ${f.count}` : '';
    return `${key(f.name)}: { offset: ${f.offset}, size: ${f.element?.size ?? f.size}, signed: ${(f.element?.kind ?? f.kind) === 'int'}${el} },`;
  });
  return `  ${key(name)}: { size: ${s.size}, fields: {\n${filled(fields)}\n  } },`;
}

/** A map's struct as read: exact 64-bit fields (addresses, clock readings) as bigint, char arrays as strings. */
function structInterface(btf: Btf, name: string): string {
  const s = btf.struct(name)!;
  const fields = s.fields.map((f) => {
    const spec = fieldSpec(f.name, f);
    return `${key(f.name)}: ${spec ? tsType(spec) : 'number'};`;
  });
  return `/** struct ${name}. */\nexport interface ${pascal(name)} {\n${filled(fields)}\n}\n`;
}

/** The enums: probes, event kinds, counters. */
function enums(schema: EventSchema): string[] {
  return [
    constTable('enum it_probe: logical probe (the CLI\'s name) -> value.', 'PROBES', 'ProbeName', [...schema.probes].map(([id, n]) => [n, String(id)])),
    constTable('enum it_event_type: event kind -> value.', 'EVENT_KINDS', 'EventKind', [...schema.types.values()].map((t) => [t.kind, String(t.id)])),
    constTable('enum it_counter: counter -> index in it_counters.', 'COUNTERS', 'CounterName', [...schema.counters].map(([n, id]) => [n, String(id)])),
  ];
}

/** One type per event struct, the union of them, and the fields each kind carries. */
function eventTypes(schema: EventSchema): string[] {
  const out: string[] = [];
  const header = carried(schema.header);
  // Type aliases, not interfaces: plain records of fields (assignable to Record<string, unknown>, as the capture writer takes them).
  out.push(`/** struct it_event_hdr as events carry it (hdr.type is the event's kind). ts_ns counts from the session's start. */
export type EventHeader = {
${header.map((s) => `  ${s.name}: ${fieldType(s)};`).join('\n')}
};
`);
  const headerNames = new Set(header.map((s) => s.name));
  const kinds = [...schema.types.values()];
  const own = (t: (typeof kinds)[number]) => carried(t.layout).filter((s) => !headerNames.has(s.name));
  for (const t of kinds) {
    out.push(`/** struct ${t.layout.name}. */
export type ${pascal(t.kind)}Event = EventHeader & {
  kind: '${t.kind}';
${own(t).map((s) => `  ${s.name}: ${fieldType(s)};`).join('\n')}
};
`);
  }
  out.push(`/** Every event, told apart by kind. */\nexport type RawEvent =\n${kinds.map((t) => `  | ${pascal(t.kind)}Event`).join('\n')};\n`);
  out.push(`export interface EventOfKind {\n${kinds.map((t) => `  ${t.kind}: ${pascal(t.kind)}Event;`).join('\n')}\n}\n`);
  const row = (s: FieldSpec) => `  { name: '${s.name}', type: '${s.type}', width: ${s.width} },`;
  out.push(`/** How events carry a field: a number, a string or an exact 64-bit address; width > 1 for arrays. */
export type EventField<Name extends string = string> = { readonly name: Name; readonly type: 'int' | 'string' | 'addr'; readonly width: number };

/** The header's fields, which every kind carries first. */
export const HEADER_FIELDS: readonly EventField<keyof EventHeader>[] = [
${header.map(row).join('\n')}
];

/** Per kind, the fields its events carry (besides kind): what a capture's columns must hold. */
export const EVENT_FIELDS: { readonly [K in EventKind]: readonly EventField<keyof EventOfKind[K] & string>[] } = {
${kinds.map((t) => `  ${t.kind}: [...HEADER_FIELDS,${own(t).map((s) => ` { name: '${s.name}', type: '${s.type}', width: ${s.width} }`).join(',')}],`).join('\n')}
};
`);
  return out;
}

/** The object's programs by attach mode: one line per mode, read by tsc and tests rather than people. */
function programs(obj: BpfObject): string {
  const byMode = new Map<string, string[]>();
  for (const p of obj.programs()) {
    const mode = p.section.split('/')[0];
    byMode.set(mode, [...(byMode.get(mode) ?? []), `'${p.name}'`]);
  }
  return `/** The object's programs, by the section (attach mode) each was compiled for. */
export const PROGRAMS = {
${[...byMode].map(([mode, names]) => `  ${mode}: [${names.join(', ')}],`).join('\n')}
} as const;
export type ProgramName = (typeof PROGRAMS)[keyof typeof PROGRAMS][number];
`;
}

/** The maps, the layouts and types of the structs they hold, and the load-time constants. */
function mapsAndConstants(btf: Btf): string[] {
  const out: string[] = [];
  const ms = maps(btf);
  const str = (s: string | null) => (s === null ? 'null' : `'${s}'`);
  out.push(constTable('The object\'s maps (.maps): BPF_MAP_TYPE_*, max_entries, key and value types.', 'MAPS', 'MapName', ms.map((m) => [m.name, `{ type: ${m.type}, maxEntries: ${m.maxEntries}, key: ${str(m.key)}, value: ${str(m.value)} }`])));
  const structs = [...new Set(ms.flatMap((m) => [m.key, m.value]).filter((s): s is string => s !== null && flat(btf, s)))].sort();
  out.push(`/** Layouts of the structs the maps hold (byte offsets). */\nexport const STRUCTS = {\n${structs.map((s) => structLayout(btf, s)).join('\n')}\n} as const;\n`);
  for (const s of structs) out.push(structInterface(btf, s));
  const ro = btf.datasec('.rodata') ?? new Map<string, { offset: number; size: number }>();
  out.push(constTable('Load-time constants (const volatile in .rodata): offset and size.', 'CONSTANTS', 'ConstantName', [...ro].map(([n, v]) => [n, `{ offset: ${v.offset}, size: ${v.size} }`])));
  out.push('/** Values for the load-time constants (booleans as 0 or 1). */\nexport type Constants = { [K in ConstantName]: number | bigint | boolean };\n');
  return out;
}

/** The generated module's text for the object at `objectPath`. */
export function generate(objectPath: string, shownPath = objectPath): string {
  const schema = EventSchema.fromFile(objectPath);
  const obj = BpfObject.open(objectPath);
  try {
    const head = `/*
 * Generated from ${shownPath} by src/events/generate.ts (npm run build:types): do not edit.
 *
 * Committed, not ignored: tsc and editors work on a clean clone without clang or
 * bpftool, a change to bpf/include/events.h shows in review as the change it makes
 * here, and test/unit/generated.test.ts regenerates it to catch a stale copy.
 */
`;
    return [head, ...enums(schema), ...eventTypes(schema), programs(obj), ...mapsAndConstants(obj.btf())].join('\n');
  } finally {
    obj.close();
  }
}
