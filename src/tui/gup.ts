import * as blessed from 'blessed';
import { bar, compact, count, fit } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Panel } from './panel';

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-';
}

/** get/pin_user_pages: how much went the lockless fast path, fallbacks, partial pins, errors. */
export class GupPanel extends Panel {
  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'GUP');
  }

  update(v: View): void {
    const g = v.summary.gup;
    const { width } = this.inner;
    const pinned = g.fast_pages + g.slow_pages;
    const bw = Math.max(4, width - 22);
    const fastBar = bar(pinned ? g.fast_pages / pinned : 0, bw);
    const errs = Object.entries(g.errors_by_errno)
      .sort((a, b) => b[1] - a[1])
      .map(([e, n]) => `${e} ${count(n)}`)
      .join(' ');
    const red = (n: number, s: string): string => (n > 0 ? `{red-fg}${s}{/red-fg}` : s);
    const lines = [
      `fast ${fit(count(g.fast_pages), 9, 'right')} ${fit(pct(g.fast_pages, pinned), 6, 'right')} {green-fg}${fastBar}{/green-fg}{gray-fg}${'░'.repeat(Math.max(0, bw - fastBar.length))}{/gray-fg}`,
      `slow ${fit(count(g.slow_pages), 9, 'right')} ${fit(pct(g.slow_pages, pinned), 6, 'right')} {gray-fg}fallback pages{/gray-fg}`,
      `asked ${count(g.pages_requested)} · pinned ${count(g.pages_pinned)}`,
      `calls ${count(g.calls)} · ${g.partial > 0 ? `{yellow-fg}partial ${count(g.partial)}{/yellow-fg}` : 'partial 0'} · ${red(g.errors, `errors ${count(g.errors)}`)}${errs ? ` {gray-fg}${errs}{/gray-fg}` : ''}`,
      `now ${compact(v.rates.rate('gup_pages'))} pages/s · ${compact(v.rates.rate('gup_calls'))} calls/s`,
      `pinned vfio ${count(v.summary.pins.vfio_pages)} · iommufd ${count(v.summary.pins.iommufd_pages)}`,
      `unpinned ${count(v.summary.pins.unpinned_pages)}`,
    ];
    this.box.setContent(lines.join('\n'));
  }
}
