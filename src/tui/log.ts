import * as blessed from 'blessed';
import { esc, fit } from './format';
import { Level, LogEntry } from './eventlog';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Details, Panel, UiState } from './panel';

const COLOR: Record<Level, string> = { info: '', warn: 'yellow-fg', error: 'red-fg' };

/** Event time as +seconds from the source's start. */
function stamp(ns: number): string {
  return `+${(ns / 1e9).toFixed(3)}s`;
}

/** Lines an entry may take; past them it ends in an ellipsis. */
const MAX_WRAP = 3;

/** `s` in lines of `w` columns, broken at a space where one is near the end. */
export function wrap(s: string, w: number): string[] {
  const out: string[] = [];
  while (s.length > w && out.length < MAX_WRAP - 1 && w > 1) {
    const space = s.lastIndexOf(' ', w);
    const cut = space > w / 2 ? space : w;
    out.push(fit(s.slice(0, cut), w));
    s = s.slice(cut).replace(/^ /, '');
  }
  out.push(fit(s, w));
  return out;
}

/** Attaches, detaches, failures, IO page faults and suspected leaks, newest at the bottom. */
export class LogPanel extends Panel {
  override readonly focusable = true;
  /** Lines scrolled back from the newest (0 follows new entries). */
  private back = 0;
  private shown: LogEntry[] = [];

  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Events');
  }

  update(v: View, ui: UiState): void {
    const f = ui.filter.toLowerCase();
    this.shown = f ? v.log.entries.filter((e) => e.text.toLowerCase().includes(f)) : v.log.entries;
    this.render();
  }

  private render(): void {
    const { width, height } = this.inner;
    this.back = Math.max(0, Math.min(this.back, this.shown.length - height));
    const end = this.shown.length - this.back;
    const page = this.shown.slice(Math.max(0, end - height), end);
    const sw = page.length ? Math.max(...page.map((e) => stamp(e.ts_ns).length)) : 0;
    // A line in words (a refused map and why) is longer than half a screen: wrapped, the newest kept.
    const lines = page.flatMap((e) => wrap(e.text, Math.max(0, width - sw - 1)).map((part, i) => {
      const text = `${i ? ' '.repeat(sw) : `{gray-fg}${stamp(e.ts_ns).padStart(sw)}{/gray-fg}`} ${esc(part)}`;
      const c = COLOR[e.level];
      return c ? `{${c}}${text}{/${c}}` : text;
    })).slice(-height);
    this.setTitle(this.back ? `${this.back} newer below (end)` : `${this.shown.length}`);
    this.box.setContent(lines.length ? lines.join('\n') : '{gray-fg}no attach, detach, failure or fault yet{/gray-fg}');
  }

  override key(name: string): boolean {
    const { height } = this.inner;
    const moves: Record<string, number> = { up: 1, down: -1, k: 1, j: -1, pageup: height, pagedown: -height, home: Infinity, end: -Infinity };
    if (!(name in moves)) return false;
    this.back = Math.max(0, this.back + moves[name]);
    this.render();
    return true;
  }

  override details(): Details | undefined {
    const { height } = this.inner;
    const end = this.shown.length - this.back;
    const page = this.shown.slice(Math.max(0, end - height), end);
    if (!page.length) return undefined;
    return { title: 'Events', body: page.map((e) => `${stamp(e.ts_ns)} ${e.level.padEnd(5)} ${e.text}`).join('\n') };
  }
}
