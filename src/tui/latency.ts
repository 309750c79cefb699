import * as blessed from 'blessed';
import { Histogram } from '../aggregate/loglinear';
import { bar, count, esc, fit, formatDuration } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Panel, UiState } from './panel';

/** A log2 bucket bound, short: 512ns, 1.02us, 65.5us, 1.05ms. */
function bound(ns: number): string {
  if (ns < 1000) return `${ns}ns`;
  const [v, unit] = ns < 1e6 ? [ns / 1e3, 'us'] : ns < 1e9 ? [ns / 1e6, 'ms'] : [ns / 1e9, 's'];
  return `${Number(v.toPrecision(3))}${unit}`;
}

/** Merges neighbouring buckets pairwise until at most `rows` remain. */
function squeeze(b: { low: number; high: number; count: number }[], rows: number): typeof b {
  while (b.length > rows && rows > 0) {
    const out: typeof b = [];
    for (let i = 0; i < b.length; i += 2) {
      const n = b[i + 1];
      out.push(n ? { low: b[i].low, high: n.high, count: b[i].count + n.count } : b[i]);
    }
    b = out;
  }
  return b;
}

/** Histogram lines, funclatency style: range, bar, count. */
export function histogramLines(h: Histogram, width: number, rows: number): string[] {
  const p = h.percentiles();
  const d = formatDuration;
  const heads = [
    `n ${count(p.count)}  p50 ${d(p.p50_ns)}  p90 ${d(p.p90_ns)}  p99 ${d(p.p99_ns)}  max ${d(p.max_ns)}`,
    `n ${count(p.count)} p50 ${d(p.p50_ns)} p99 ${d(p.p99_ns)} max ${d(p.max_ns)}`,
    `p50 ${d(p.p50_ns)} p99 ${d(p.p99_ns)}`,
  ];
  const head = heads.find((h) => h.length <= width) ?? heads[heads.length - 1];
  const out = [`{bold}${esc(fit(head, width))}{/bold}`];
  const buckets = squeeze(h.log2(), rows - 1);
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const labels = buckets.map((b) => `${bound(b.low)}-${bound(b.high)}`);
  const lw = Math.max(...labels.map((l) => l.length));
  const cw = Math.max(...buckets.map((b) => count(b.count).length));
  const bw = Math.max(1, width - lw - cw - 3);
  buckets.forEach((b, i) => {
    const fill = bar(b.count / max, bw);
    out.push(`${esc(labels[i].padStart(lw))} {cyan-fg}${fill.padEnd(bw)}{/cyan-fg} ${count(b.count).padStart(cw)}`);
  });
  return out;
}

/**
 * The latency histogram of the selected device's maps, or of a probe: up/down
 * (when focused) step through the selected device and then every probe that has
 * a latency, the layout's `metrics` first.
 */
export class LatencyPanel extends Panel {
  override readonly focusable = true;
  private choice = 0;

  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Latency');
  }

  private choices(v: View, ui: UiState): { title: string; hist?: Histogram }[] {
    const probes = [...v.agg.latency.keys()];
    const order = [...this.spec.metrics.filter((m) => probes.includes(m)), ...probes.filter((p) => !this.spec.metrics.includes(p)).sort()];
    const device = ui.selectedDevice;
    return [
      { title: `iommu.map · ${device?.startsWith('unknown:') ? 'unknown' : (device ?? 'no device')}`, hist: device ? v.detail.mapLatency.get(device) : undefined },
      ...order.map((p) => ({ title: p, hist: v.agg.latency.get(p) })),
    ];
  }

  private last?: { v: View; ui: UiState };

  update(v: View, ui: UiState): void {
    this.last = { v, ui };
    const list = this.choices(v, ui);
    if (this.choice >= list.length) this.choice = 0;
    const c = list[this.choice];
    this.setTitle(`${c.title}${this.isFocused ? ` (${this.choice + 1}/${list.length} ↑↓)` : ''}`);
    const { width, height } = this.inner;
    this.box.setContent(c.hist?.count ? histogramLines(c.hist, width, height).join('\n') : '{gray-fg}no samples yet{/gray-fg}');
  }

  override key(name: string, ui: UiState): boolean {
    if (!this.last) return false;
    const n = this.choices(this.last.v, ui).length;
    if (name === 'down' || name === 'j') this.choice = (this.choice + 1) % n;
    else if (name === 'up' || name === 'k') this.choice = (this.choice + n - 1) % n;
    else return false;
    return true;
  }
}
