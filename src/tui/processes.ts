import * as blessed from 'blessed';
import { ProcessRow } from '../aggregate/processes';
import { count, formatBytes, formatDuration, mibPerSec } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Details, UiState } from './panel';
import { Column } from './table';
import { ColumnId, TablePanel } from './table-panel';

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
/** First to last map: how long the process's start-up mapping took. */
const mapping = (r: ProcessRow): number => (r.first_map_ns === null || r.last_map_ns === null ? -1 : r.last_map_ns - r.first_map_ns);
const name = (r: ProcessRow): string => (r.pid < 0 ? '(others)' : (r.vm ?? r.comm));

const COLUMNS: (Column<ProcessRow> & { id: ColumnId<'processes'> })[] = [
  { id: 'vm', title: 'VM/COMM', width: 10, align: 'left', flex: true, text: name, key: name, tag: (r) => (r.vm ? undefined : 'gray-fg') },
  { id: 'pid', title: 'PID', width: 7, align: 'right', text: (r) => (r.pid < 0 ? '-' : String(r.pid)), key: (r) => r.pid },
  { id: 'mapped', title: 'MiB', width: 8, align: 'right', text: (r) => mib(r.map_bytes), key: (r) => r.map_bytes },
  { id: 'pinned', title: 'PINNED', width: 8, align: 'right', text: (r) => count(r.pinned_pages), key: (r) => r.pinned_pages },
  { id: 'rate', title: 'MiB/s', width: 6, align: 'right', text: (r) => (r.map_bytes_per_s === null ? '-' : mibPerSec(r.map_bytes_per_s)), key: (r) => r.map_bytes_per_s ?? -1 },
  { id: 'mapping', title: 'MAPPING', width: 8, align: 'right', text: (r) => (mapping(r) < 0 ? '-' : formatDuration(mapping(r))), key: mapping },
  { id: 'unmapped', title: 'UNMAP MiB', width: 9, align: 'right', text: (r) => mib(r.unmap_bytes), key: (r) => r.unmap_bytes },
  { id: 'cgroup', title: 'CGROUP', width: 20, align: 'left', text: (r) => r.cgroup ?? '-', key: (r) => r.cgroup ?? '' },
];

/**
 * Processes that mapped or pinned, by VM where the VMM names one: how much each
 * mapped and pinned, how fast, and how long its mapping took.
 */
export class ProcessesPanel extends TablePanel<ProcessRow, 'processes'> {
  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Processes', 'processes', COLUMNS, (r) => String(r.pid));
  }

  update(v: View, ui: UiState): void {
    const f = ui.filter.toLowerCase();
    const rows = v.summary.processes.filter((r) => !f || `${r.vm ?? ''} ${r.comm} ${r.pid} ${r.cgroup ?? ''}`.toLowerCase().includes(f));
    this.table.setRows(rows);
    const named = rows.filter((r) => r.vm).length;
    this.setTitle(`${rows.length}${named ? ` · ${named} VM${named === 1 ? '' : 's'}` : ''}`);
    const { width, height } = this.inner;
    const lines = this.table.render(width, height, this.isFocused);
    if (rows.length === 0) lines.push(`{gray-fg}${ui.filter ? 'no process matches the filter' : 'no process mapped or pinned yet'}{/gray-fg}`);
    this.box.setContent(lines.join('\n'));
  }

  override details(): Details | undefined {
    const r = this.table.selected;
    if (!r) return undefined;
    const lines = [
      `process       ${r.pid < 0 ? '(others: past the table\'s bound)' : `${r.pid} ${r.comm}`}`,
      `vm            ${r.vm ?? '- (not a VMM that names its VM, or recorded before process frames)'}`,
      `cgroup        ${r.cgroup ?? '-'}`,
      `mapped        ${formatBytes(r.map_bytes)}   unmapped ${formatBytes(r.unmap_bytes)}`,
      `pinned pages  ${count(r.pinned_pages)}   unpinned ${count(r.unpinned_pages)}`,
      `mapping       ${mapping(r) < 0 ? '-' : `${formatDuration(mapping(r))} from first to last map`}${r.map_bytes_per_s === null ? '' : `, ${mibPerSec(r.map_bytes_per_s)} MiB/s`}`,
    ];
    return { title: `Process ${r.vm ?? r.comm}`, body: lines.join('\n') };
  }
}
