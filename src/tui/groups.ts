import * as blessed from 'blessed';
import { ListedRef } from '../aggregate/groups';
import { age, count, esc, fit } from './format';
import { WidgetSpec } from './layout';
import { Summary, View } from './model';
import { Details, Panel, UiState } from './panel';

type Group = Summary['groups'][number];

interface Item {
  key: string;
  group: Group;
  ref?: ListedRef & { leaked: boolean };
}

const ORDERS = ['leaks', 'outstanding', 'group'] as const;

/**
 * Outstanding IOMMU group references per group, and under each the references
 * older than the leak age: `held` by a known long-lived holder, or `LEAKED`
 * (highlighted) with the function that took it, the process and its age.
 */
export class GroupsPanel extends Panel {
  override readonly focusable = true;
  override readonly sortable = true;
  private order = 0;
  private reverse = false;
  private items: Item[] = [];
  private selectedKey?: string;
  private scroll = 0;

  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Group references');
  }

  /** Full counts per group (the lists are capped at MAX_LISTED_REFS). */
  private counts = new Map<number, { held: number; leaked: number }>();

  /** A group's suspected leaks, all of them, not only the ones listed. */
  private leaks(g: Group): number {
    return this.counts.get(g.group)?.leaked ?? g.leaked.length;
  }

  private sorted(groups: Group[]): Group[] {
    const by = ORDERS[this.order];
    const k = (g: Group): number => (by === 'leaks' ? this.leaks(g) * 1e9 + g.outstanding : by === 'outstanding' ? g.outstanding : -g.group);
    const dir = this.reverse ? -1 : 1;
    return [...groups].sort((a, b) => dir * (k(b) - k(a)) || a.group - b.group);
  }

  update(v: View, ui: UiState): void {
    this.counts = v.refCounts;
    const f = ui.filter.toLowerCase();
    const groups = this.sorted(v.summary.groups).filter(
      (g) => !f || `${g.group} ${g.devices.join(' ')} ${[...g.leaked, ...g.held].map((r) => `${r.taker} ${r.comm}`).join(' ')}`.toLowerCase().includes(f),
    );
    this.items = [];
    for (const g of groups) {
      this.items.push({ key: `g${g.group}`, group: g });
      g.leaked.forEach((r, i) => this.items.push({ key: `g${g.group}:l${i}:${v.nowNs - r.age_ns}`, group: g, ref: { ...r, leaked: true } }));
      g.held.forEach((r, i) => this.items.push({ key: `g${g.group}:h${i}:${v.nowNs - r.age_ns}`, group: g, ref: { ...r, leaked: false } }));
    }
    if (!this.items.some((i) => i.key === this.selectedKey)) this.selectedKey = this.items[0]?.key;
    const leaks = groups.reduce((n, g) => n + this.leaks(g), 0);
    this.setTitle(`${leaks ? `{red-fg}{bold}${leaks} leaked{/bold}{/red-fg} · ` : ''}sort ${ORDERS[this.order]}${this.reverse ? ' ▲' : ' ▼'}`);
    this.render();
  }

  private line(it: Item, width: number): string {
    if (!it.ref) {
      const g = it.group;
      const devs = fit(g.devices.join(',') || '-', Math.max(4, width - 37));
      const out = g.outstanding > 0 ? `{yellow-fg}${fit(count(g.outstanding), 5, 'right')}{/yellow-fg}` : fit('0', 5, 'right');
      return `${fit(String(g.group), 5, 'right')} ${esc(devs)} ${fit(count(g.gets), 7, 'right')} ${fit(count(g.puts), 7, 'right')} ${out} ${fit(String(this.leaks(g)), 5, 'right')}`;
    }
    const r = it.ref;
    const tail = `${r.comm}[${r.pid}] ${age(r.age_ns)}`;
    const tw = Math.max(8, width - tail.length - 16);
    if (r.leaked) return `      {red-fg}{bold}LEAKED{/bold} ${esc(fit(r.taker, tw))} ${esc(tail)}{/red-fg}`;
    return `      {gray-fg}held   ${esc(fit(`${r.taker} (${r.holder})`, tw))} ${esc(tail)}{/gray-fg}`;
  }

  private render(): void {
    const { width, height } = this.inner;
    const head = `{bold}${fit('GRP', 5, 'right')} ${fit('DEVICES', Math.max(4, width - 37))} ${fit('GETS', 7, 'right')} ${fit('PUTS', 7, 'right')} ${fit('OUT', 5, 'right')} ${fit('LEAK', 5, 'right')}{/bold}`;
    const room = Math.max(0, height - 1);
    const sel = this.items.findIndex((i) => i.key === this.selectedKey);
    if (sel >= 0 && sel < this.scroll) this.scroll = sel;
    if (sel >= this.scroll + room) this.scroll = sel - room + 1;
    this.scroll = Math.max(0, Math.min(this.scroll, this.items.length - room));
    const lines = [head];
    for (const it of this.items.slice(this.scroll, this.scroll + room)) {
      const text = this.line(it, width);
      const selected = this.isFocused && it.key === this.selectedKey;
      lines.push(selected ? `{black-fg}{cyan-bg}${blessed.stripTags(text).padEnd(width)}{/cyan-bg}{/black-fg}` : text);
    }
    if (!this.items.length) lines.push('{gray-fg}no group references seen yet{/gray-fg}');
    this.box.setContent(lines.join('\n'));
  }

  override key(name: string): boolean {
    const moves: Record<string, number> = { up: -1, down: 1, k: -1, j: 1, home: -Infinity, end: Infinity };
    if (!(name in moves) || !this.items.length) return false;
    const i = this.items.findIndex((it) => it.key === this.selectedKey);
    const j = Math.max(0, Math.min(this.items.length - 1, i + moves[name]));
    this.selectedKey = this.items[j].key;
    this.render();
    return true;
  }

  override sort(reverse: boolean): void {
    if (reverse) this.reverse = !this.reverse;
    else {
      this.order = (this.order + 1) % ORDERS.length;
      this.reverse = false;
    }
  }

  override details(): Details | undefined {
    const it = this.items.find((i) => i.key === this.selectedKey);
    if (!it) return undefined;
    const g = it.group;
    if (!it.ref) {
      const refs = [...g.leaked.map((r) => ({ ...r, what: 'LEAKED' })), ...g.held.map((r) => ({ ...r, what: `held by ${r.holder}` }))];
      return {
        title: `Group ${g.group}`,
        body: [
          `devices      ${g.devices.join(', ') || '-'}`,
          `gets ${count(g.gets)}  puts ${count(g.puts)}  outstanding ${count(g.outstanding)}`,
          `older than the leak age: ${refs.length}`,
          ...refs.map((r) => `  ${r.what}  ${r.taker}  ${r.comm}[${r.pid}]  ${age(r.age_ns)}`),
        ].join('\n'),
      };
    }
    const r = it.ref;
    return {
      title: `${r.leaked ? 'Leaked' : 'Held'} reference on group ${g.group}`,
      body: [
        `taker   ${r.taker}`,
        r.holder ? `holder  ${r.holder}` : 'holder  none known: nothing in the catalogue keeps such a reference, so it is a suspected leak',
        `process ${r.comm}[${r.pid}]`,
        `age     ${age(r.age_ns)}`,
        'stack (innermost first):',
        ...r.stack.map((f) => `  ${f}`),
      ].join('\n'),
    };
  }
}
