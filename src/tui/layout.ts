import * as fs from 'node:fs';
import * as path from 'node:path';

/** The rates kept (see Model.counters), for the `rates` chart and `sparklines`. */
const RATE_METRICS = ['events', 'map_bytes', 'map_calls', 'unmap_bytes', 'unmap_calls', 'gup_pages', 'gup_calls', 'group_gets', 'group_puts', 'dirty_walks', 'faults'] as const;

/** What a widget kind may list under `metrics` (undefined: free strings, e.g. probe names). */
export const KINDS = {
  devices: ['device', 'group', 'driver', 'path', 'attaches', 'detaches', 'errors', 'maps_per_s', 'mib_per_s', 'mapped', 'unmapped', 'map_p50', 'map_p99', 'pinned', 'faults'],
  latency: undefined,
  rates: RATE_METRICS,
  sparklines: RATE_METRICS,
  gup: [],
  groups: [],
  dirty: [],
  log: [],
  processes: ['vm', 'pid', 'mapped', 'pinned', 'rate', 'mapping', 'unmapped', 'cgroup'],
} as const satisfies Record<string, readonly string[] | undefined>;

export type WidgetKind = keyof typeof KINDS;

export interface WidgetSpec {
  kind: WidgetKind;
  label?: string;
  row: number;
  col: number;
  rowSpan: number;
  colSpan: number;
  metrics: string[];
}

export interface ScreenSpec {
  name: string;
  /** The smallest terminal this screen is for; the last screen has none and fits any. */
  min?: { cols: number; rows: number };
  grid: { rows: number; cols: number };
  widgets: WidgetSpec[];
}

export interface Layout {
  format: 'iommutop-layout/1';
  screens: ScreenSpec[];
}

/** The layout shipped in dashboards/. */
export const DEFAULT_LAYOUT = path.resolve(__dirname, '..', '..', '..', 'dashboards', 'iommutop.json');

export class LayoutError extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function only(o: Obj, where: string, keys: string[]): void {
  const extra = Object.keys(o).find((k) => !keys.includes(k));
  if (extra) throw new LayoutError(`${where}: unknown key "${extra}" (expected ${keys.join(', ')})`);
}

function int(o: Obj, key: string, where: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new LayoutError(`${where}.${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function widget(w: unknown, where: string, grid: { rows: number; cols: number }): WidgetSpec {
  if (!isObj(w)) throw new LayoutError(`${where}: expected an object`);
  only(w, where, ['kind', 'label', 'row', 'col', 'rowSpan', 'colSpan', 'metrics']);
  const kinds = Object.keys(KINDS);
  if (typeof w.kind !== 'string' || !kinds.includes(w.kind)) {
    throw new LayoutError(`${where}.kind: ${JSON.stringify(w.kind)} is not one of ${kinds.join(', ')}`);
  }
  const kind = w.kind as WidgetKind;
  if (w.label !== undefined && typeof w.label !== 'string') throw new LayoutError(`${where}.label: expected a string`);
  const row = int(w, 'row', where, 0, grid.rows - 1);
  const col = int(w, 'col', where, 0, grid.cols - 1);
  const rowSpan = int(w, 'rowSpan', where, 1, grid.rows - row);
  const colSpan = int(w, 'colSpan', where, 1, grid.cols - col);
  const metrics = w.metrics ?? [];
  if (!Array.isArray(metrics) || metrics.some((m) => typeof m !== 'string')) throw new LayoutError(`${where}.metrics: expected a list of strings`);
  const allowed: readonly string[] | undefined = KINDS[kind];
  const bad = allowed && metrics.find((m) => !allowed.includes(m));
  if (bad) {
    const known = allowed.length ? `one of ${allowed.join(', ')}` : 'none for this kind';
    throw new LayoutError(`${where}.metrics: "${bad}" is not a metric of ${kind} (${known})`);
  }
  return { kind, label: w.label as string | undefined, row, col, rowSpan, colSpan, metrics: metrics as string[] };
}

function screen(s: unknown, where: string, last: boolean): ScreenSpec {
  if (!isObj(s)) throw new LayoutError(`${where}: expected an object`);
  only(s, where, ['name', 'min', 'grid', 'widgets']);
  if (typeof s.name !== 'string' || !s.name) throw new LayoutError(`${where}.name: expected a name`);
  let min: ScreenSpec['min'];
  if (s.min !== undefined) {
    if (!isObj(s.min)) throw new LayoutError(`${where}.min: expected {"cols": N, "rows": N}`);
    only(s.min, `${where}.min`, ['cols', 'rows']);
    min = { cols: int(s.min, 'cols', `${where}.min`, 1, 10000), rows: int(s.min, 'rows', `${where}.min`, 1, 10000) };
  } else if (!last) throw new LayoutError(`${where}.min: every screen but the last needs a minimum terminal size`);
  if (last && min) throw new LayoutError(`${where}.min: the last screen is the fallback for any terminal size and takes no minimum`);
  if (!isObj(s.grid)) throw new LayoutError(`${where}.grid: expected {"rows": N, "cols": N}`);
  only(s.grid, `${where}.grid`, ['rows', 'cols']);
  const grid = { rows: int(s.grid, 'rows', `${where}.grid`, 1, 48), cols: int(s.grid, 'cols', `${where}.grid`, 1, 48) };
  if (!Array.isArray(s.widgets) || s.widgets.length === 0) throw new LayoutError(`${where}.widgets: expected a non-empty list`);
  const widgets = s.widgets.map((w, i) => widget(w, `${where}.widgets[${i}]`, grid));
  const owner = new Map<string, number>();
  widgets.forEach((w, i) => {
    for (let r = w.row; r < w.row + w.rowSpan; r++) {
      for (let c = w.col; c < w.col + w.colSpan; c++) {
        const prev = owner.get(`${r},${c}`);
        if (prev !== undefined) throw new LayoutError(`${where}.widgets[${i}] overlaps widgets[${prev}] at row ${r}, col ${c}`);
        owner.set(`${r},${c}`, i);
      }
    }
  });
  return { name: s.name, min, grid, widgets };
}

/** Checks a parsed layout; throws a LayoutError naming the first problem. */
export function validateLayout(data: unknown): Layout {
  if (!isObj(data)) throw new LayoutError('expected a JSON object');
  only(data, 'layout', ['format', 'screens']);
  if (data.format !== 'iommutop-layout/1') throw new LayoutError(`format: expected "iommutop-layout/1", got ${JSON.stringify(data.format)}`);
  if (!Array.isArray(data.screens) || data.screens.length === 0) throw new LayoutError('screens: expected a non-empty list');
  const n = data.screens.length;
  return { format: 'iommutop-layout/1', screens: data.screens.map((s, i) => screen(s, `screens[${i}]`, i === n - 1)) };
}

/** Reads and checks a layout file; every failure is one line naming the file. */
export function loadLayout(file: string): Layout {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new LayoutError(`layout ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return validateLayout(JSON.parse(text));
  } catch (err) {
    if (err instanceof SyntaxError) throw new LayoutError(`layout ${file}: not valid JSON (${err.message})`);
    throw new LayoutError(`layout ${file}: ${(err as Error).message}`);
  }
}

/** The first screen the terminal is big enough for. */
export function pickScreen(layout: Layout, cols: number, rows: number): ScreenSpec {
  return layout.screens.find((s) => !s.min || (cols >= s.min.cols && rows >= s.min.rows)) ?? layout.screens[layout.screens.length - 1];
}

export interface Rect {
  top: number;
  left: number;
  width: number;
  height: number;
}

/** A widget's cell span in character cells of an area `width` x `height` (no gaps, no overlap). */
export function place(w: WidgetSpec, grid: ScreenSpec['grid'], width: number, height: number): Rect {
  const x = (c: number): number => Math.round((c * width) / grid.cols);
  const y = (r: number): number => Math.round((r * height) / grid.rows);
  return { top: y(w.row), left: x(w.col), width: x(w.col + w.colSpan) - x(w.col), height: y(w.row + w.rowSpan) - y(w.row) };
}
