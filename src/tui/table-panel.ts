import * as blessed from 'blessed';
import { KINDS, WidgetSpec } from './layout';
import { Panel } from './panel';
import { Column, TableState } from './table';

/** The widget kinds that are tables, and the column ids each may list (layout.ts's KINDS is their one place). */
export type TableKind = 'devices' | 'processes';
export type ColumnId<K extends TableKind> = (typeof KINDS)[K][number];

/**
 * A panel that is one sortable, selectable table: its columns are the layout's
 * `metrics` (all of its kind's, in KINDS order, when none are listed); sorted by
 * `mapped` where shown; arrow keys, j/k, page up/down, home and end move the selection.
 */
export abstract class TablePanel<R, K extends TableKind> extends Panel {
  override readonly focusable = true;
  override readonly sortable = true;
  protected readonly table: TableState<R>;

  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec, title: string, kind: K, columns: (Column<R> & { id: ColumnId<K> })[], rowKey: (r: R) => string) {
    super(parent, spec, title);
    const ids: readonly string[] = spec.metrics.length ? spec.metrics : KINDS[kind];
    const cols = ids.map((id) => {
      const c = columns.find((x) => x.id === id);
      if (!c) throw new Error(`${kind} has no column ${id}`);
      return c;
    });
    this.table = new TableState(cols, rowKey, cols.some((c) => c.id === 'mapped') ? 'mapped' : cols[0].id);
  }

  override key(name: string): boolean {
    const { height } = this.inner;
    const moves: Record<string, number> = { up: -1, down: 1, k: -1, j: 1, pageup: -(height - 1), pagedown: height - 1, home: -Infinity, end: Infinity };
    if (!(name in moves)) return false;
    this.table.move(moves[name]);
    return true;
  }

  override sort(reverse: boolean): void {
    this.table.sort(reverse);
  }
}
