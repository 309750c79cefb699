import { esc, fit } from './format';

export interface Column<R> {
  id: string;
  title: string;
  /** Width in columns; the one `flex` column takes what is left (at least this). */
  width: number;
  align: 'left' | 'right';
  flex?: boolean;
  text: (r: R) => string;
  /** Sort key; numbers sort descending first (biggest on top), strings ascending. */
  key: (r: R) => number | string;
  /** Blessed tags around the cell (e.g. a colour for a non-zero error count). */
  tag?: (r: R) => string | undefined;
}

/** Which columns fit in `width` (one space between), dropping from the right; the flex one widened. */
export function fitColumns<R>(cols: Column<R>[], width: number): { col: Column<R>; width: number }[] {
  const out: { col: Column<R>; width: number }[] = [];
  let used = 0;
  for (const c of cols) {
    const need = c.width + (out.length ? 1 : 0);
    if (used + need > width) break;
    out.push({ col: c, width: c.width });
    used += need;
  }
  const flex = out.find((o) => o.col.flex) ?? out[0];
  if (flex) flex.width += width - used;
  return out;
}

/**
 * A sortable table with a selection kept by row key (so it stays on the same row
 * when the order changes) and scrolling that keeps the selection in view.
 */
export class TableState<R> {
  sortBy = 0;
  reverse = false;
  selectedKey?: string;
  private scroll = 0;
  private rows: R[] = [];

  constructor(
    readonly columns: Column<R>[],
    private readonly rowKey: (r: R) => string,
    sortBy: string,
  ) {
    this.sortBy = Math.max(0, columns.findIndex((c) => c.id === sortBy));
  }

  /** s: the next column (wrapping); S: the same column, the other way round. */
  sort(reverse: boolean): void {
    if (reverse) this.reverse = !this.reverse;
    else {
      this.sortBy = (this.sortBy + 1) % this.columns.length;
      this.reverse = false;
    }
  }

  get sortColumn(): Column<R> {
    return this.columns[this.sortBy];
  }

  setRows(rows: R[]): void {
    const key = this.sortColumn.key;
    const dir = this.reverse ? -1 : 1;
    this.rows = [...rows].sort((a, b) => {
      const x = key(a);
      const y = key(b);
      const c = typeof x === 'number' && typeof y === 'number' ? y - x : String(x).localeCompare(String(y));
      return dir * c || this.rowKey(a).localeCompare(this.rowKey(b));
    });
    if (!this.rows.some((r) => this.rowKey(r) === this.selectedKey)) this.selectedKey = this.rows[0] ? this.rowKey(this.rows[0]) : undefined;
  }

  get selected(): R | undefined {
    return this.rows.find((r) => this.rowKey(r) === this.selectedKey);
  }

  get length(): number {
    return this.rows.length;
  }

  /** Moves the selection by `delta` rows (clamped). */
  move(delta: number): void {
    if (!this.rows.length) return;
    const i = this.rows.findIndex((r) => this.rowKey(r) === this.selectedKey);
    const j = Math.max(0, Math.min(this.rows.length - 1, i + delta));
    this.selectedKey = this.rowKey(this.rows[j]);
  }

  /** Header and visible rows as tagged lines, `height` lines in all. */
  render(width: number, height: number, focused: boolean): string[] {
    const cols = fitColumns(this.columns, width);
    const arrow = this.reverse ? '▲' : '▼';
    const head = cols
      .map(({ col, width: w }) => {
        const t = col === this.sortColumn ? (col.align === 'right' ? arrow + col.title : col.title + arrow) : col.title;
        return fit(t, w, col.align);
      })
      .join(' ');
    const lines = [`{bold}${esc(head)}{/bold}`];
    const room = Math.max(0, height - 1);
    const sel = this.rows.findIndex((r) => this.rowKey(r) === this.selectedKey);
    if (sel >= 0 && sel < this.scroll) this.scroll = sel;
    if (sel >= this.scroll + room) this.scroll = sel - room + 1;
    this.scroll = Math.max(0, Math.min(this.scroll, this.rows.length - room));
    for (const r of this.rows.slice(this.scroll, this.scroll + room)) {
      const selected = this.rowKey(r) === this.selectedKey;
      const cells = cols.map(({ col, width: w }) => {
        const text = esc(fit(col.text(r), w, col.align));
        const tag = selected ? undefined : col.tag?.(r);
        return tag ? `{${tag}}${text}{/${tag}}` : text;
      });
      const line = cells.join(' ');
      lines.push(selected ? (focused ? `{black-fg}{cyan-bg}${line}{/cyan-bg}{/black-fg}` : `{inverse}${line}{/inverse}`) : line);
    }
    return lines;
  }
}
