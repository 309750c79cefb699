import * as blessed from 'blessed';
import { compact, fit, mibPerSec, sparkline } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Panel } from './panel';

const SERIES: Record<string, { label: string; unit: (v: number) => string }> = {
  events: { label: 'events', unit: (v) => `${compact(v)}/s` },
  map_bytes: { label: 'mapped', unit: (v) => `${mibPerSec(v)} MiB/s` },
  map_calls: { label: 'maps', unit: (v) => `${compact(v)}/s` },
  unmap_bytes: { label: 'unmapped', unit: (v) => `${mibPerSec(v)} MiB/s` },
  unmap_calls: { label: 'unmaps', unit: (v) => `${compact(v)}/s` },
  gup_pages: { label: 'GUP pages', unit: (v) => `${compact(v)}/s` },
  gup_calls: { label: 'GUP calls', unit: (v) => `${compact(v)}/s` },
  group_gets: { label: 'group gets', unit: (v) => `${compact(v)}/s` },
  group_puts: { label: 'group puts', unit: (v) => `${compact(v)}/s` },
  dirty_walks: { label: 'dirty walks', unit: (v) => `${compact(v)}/s` },
  faults: { label: 'IO faults', unit: (v) => `${compact(v)}/s` },
};

const DEFAULT = ['events', 'map_bytes', 'map_calls', 'gup_pages', 'group_gets', 'dirty_walks'];

/** One sparkline per rate, one sample per redraw, each scaled to its own peak (shown). */
export class RatesPanel extends Panel {
  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Rates');
  }

  update(v: View): void {
    const { width, height } = this.inner;
    const ids = (this.spec.metrics.length ? this.spec.metrics : DEFAULT).slice(0, height);
    const lw = Math.max(...ids.map((id) => SERIES[id].label.length));
    const vw = 12;
    // The peak each line is scaled to, when there is room for it.
    const pw = width - lw - vw - 2 >= 44 ? 17 : 0;
    const sw = Math.max(0, width - lw - vw - pw - 2);
    const lines = ids.map((id) => {
      const s = SERIES[id];
      const hist = v.rates.history(id, sw);
      const peak = pw ? `{gray-fg}${fit(`peak ${s.unit(Math.max(0, ...hist))}`, pw, 'right')}{/gray-fg}` : '';
      return `${fit(s.label, lw)} {cyan-fg}${sparkline(hist, sw)}{/cyan-fg} ${fit(s.unit(v.rates.rate(id)), vw, 'right')}${peak}`;
    });
    const samples = Math.max(0, ...ids.map((id) => v.rates.history(id, sw).length));
    this.setTitle(`per second, last ${samples} redraws`);
    this.box.setContent(lines.join('\n'));
  }
}
