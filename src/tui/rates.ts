import * as blessed from 'blessed';
import type { Widgets as Contrib } from 'blessed-contrib';
import { compact, fit, formatBytes, sparkline } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Panel } from './panel';

// blessed-contrib's line chart alone: the package's index loads every widget it
// has (world maps, markdown, pictures), a third of a second more at start-up.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const contribLine = require('blessed-contrib/lib/widget/charts/line') as (options: Contrib.LineOptions) => Contrib.LineElement;

type Scale = 'count' | 'bytes';

const SERIES: Record<string, { label: string; scale: Scale }> = {
  events: { label: 'events', scale: 'count' },
  map_bytes: { label: 'mapped', scale: 'bytes' },
  map_calls: { label: 'maps', scale: 'count' },
  unmap_bytes: { label: 'unmapped', scale: 'bytes' },
  unmap_calls: { label: 'unmaps', scale: 'count' },
  gup_pages: { label: 'GUP pages', scale: 'count' },
  gup_calls: { label: 'GUP calls', scale: 'count' },
  group_gets: { label: 'group gets', scale: 'count' },
  group_puts: { label: 'group puts', scale: 'count' },
  dirty_walks: { label: 'dirty walks', scale: 'count' },
  faults: { label: 'IO faults', scale: 'count' },
};

const DEFAULT = ['events', 'map_bytes', 'map_calls', 'gup_pages', 'group_gets', 'dirty_walks'];

/** A rate as the list shows it: "12.3k/s", "0.5 MiB/s". */
function rateText(scale: Scale, v: number): string {
  return scale === 'bytes' ? `${formatBytes(Math.round(v))}/s` : `${compact(v)}/s`;
}

/** The unit a chart of values up to `peak` is drawn in: the divisor and its name. */
export function chartUnit(scale: Scale, peak: number, label: string): { div: number; unit: string } {
  const units: [number, string][] =
    scale === 'bytes'
      ? [[2 ** 30, `${label} GiB/s`], [2 ** 20, `${label} MiB/s`], [2 ** 10, `${label} KiB/s`], [1, `${label} B/s`]]
      : [[1e9, `G ${label}/s`], [1e6, `M ${label}/s`], [1e3, `k ${label}/s`], [1, `${label}/s`]];
  const [div, unit] = units.find(([d]) => peak >= d) ?? units[units.length - 1];
  return { div, unit };
}

/**
 * A y axis for values up to `peak` with about `marks` labels: a round step
 * (1, 2 or 5 times a power of ten), the labels 0, step, ..., top (top >= peak),
 * and the chart's maximum half a step above top, so top's label stays inside.
 */
export function yAxis(peak: number, marks: number): { step: number; top: number; maxY: number } {
  if (!(peak > 0)) return { step: 1, top: 1, maxY: 1.5 };
  const want = peak / Math.max(1, marks);
  const pow = 10 ** Math.floor(Math.log10(want));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= want * (1 - 1e-9))!;
  const top = Math.max(step, Math.ceil(peak / step - 1e-9) * step);
  return { step, top, maxY: top + step / 2 };
}

/** How long ago, for the time axis: "now", "-45s", "-2m30", or in tenths ("-1.5s") on a short axis. */
export function ago(ns: number, tenths = false): string {
  if (tenths) {
    const t = Math.round(ns / 1e8) / 10;
    return t <= 0 ? 'now' : `-${t.toFixed(1)}s`;
  }
  const s = Math.round(ns / 1e9);
  return s <= 0 ? 'now' : `-${span(s)}`;
}

/** Whole seconds, short: "45s", "2m30". */
function span(s: number): string {
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}`;
}

/** `values` averaged in groups (aligned to the newest) until at most `max` remain. */
export function downsample(values: number[], times: number[], max: number): { y: number[]; t: number[] } {
  const group = Math.max(1, Math.ceil(values.length / Math.max(1, max)));
  const y: number[] = [];
  const t: number[] = [];
  for (let end = values.length; end > 0; end -= group) {
    const start = Math.max(0, end - group);
    let sum = 0;
    for (let i = start; i < end; i++) sum += values[i];
    y.unshift(sum / (end - start));
    t.unshift(times[end - 1]);
  }
  return { y, t };
}

/** Below this many columns or rows inside the border, the chart makes way for sparklines. */
const CHART_MIN_WIDTH = 56;
const CHART_MIN_HEIGHT = 5;

/**
 * The rates (layout kind `rates`): one series (↑↓ when focused picks it) charted
 * over the last minutes with blessed-contrib's line chart (braille dots, a time
 * axis and a y axis in the series' unit), the current value of every series
 * listed beside it. In a cell too small for a chart, one sparkline per series
 * instead; kind `sparklines` always draws those.
 */
export class RatesPanel extends Panel {
  override readonly focusable: boolean = true;
  /** Draws the chart when the cell is big enough. */
  protected readonly charts: boolean = true;
  private choice = 0;
  private chart?: Contrib.LineElement;
  private readonly list: blessed.Widgets.BoxElement;

  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Rates');
    this.list = blessed.box({ parent: this.box, top: 0, right: 0, width: 1, height: 1, tags: true, wrap: false });
  }

  private get ids(): string[] {
    return this.spec.metrics.length ? this.spec.metrics : DEFAULT;
  }

  update(v: View): void {
    const { width, height } = this.inner;
    if (this.charts && width >= CHART_MIN_WIDTH && height >= CHART_MIN_HEIGHT) this.drawChart(v, width, height);
    else this.drawSparklines(v, width, height);
  }

  /** A chart element of exactly w x h, made anew when the size changes (contrib sizes its canvas once). */
  private chartOf(w: number, h: number): Contrib.LineElement {
    if (this.chart && this.chart.width === w && this.chart.height === h) return this.chart;
    this.chart?.destroy();
    const chart = contribLine({
      top: 0,
      left: 0,
      width: w,
      height: h,
      // Labels are sized from their text (contrib's defaults leave 5 columns for them).
      xPadding: 1,
      xLabelPadding: 1,
      showLegend: false,
      wrap: false,
      style: { line: 'cyan', text: [150, 150, 150], baseline: [95, 107, 122] } as unknown as Contrib.LineOptions['style'],
    });
    // Without a border of its own, the canvas takes the element's every cell.
    chart.calcSize = function (this: Contrib.LineElement) {
      this.canvasSize = { width: (this.width as number) * 2, height: (this.height as number) * 4 };
    };
    // The canvas is made on attach, so the element joins the panel once configured.
    this.box.append(chart);
    return (this.chart = chart);
  }

  private drawChart(v: View, width: number, height: number): void {
    const ids = this.ids;
    this.choice %= ids.length;
    const id = ids[this.choice];
    const s = SERIES[id];
    const lw = Math.max(...ids.map((i) => SERIES[i].label.length));
    const listW = Math.min(lw + 14, Math.floor(width / 2));
    const chartW = width - listW - 1;

    this.list.show();
    Object.assign(this.list, { width: listW, height });
    const rows = ids.slice(0, height - 1).map((i, n) => {
      const line = `${n === this.choice ? '▸' : ' '} ${fit(SERIES[i].label, lw)} ${fit(rateText(SERIES[i].scale, v.rates.rate(i)), listW - lw - 3, 'right')}`;
      return n === this.choice ? `{cyan-fg}{bold}${line}{/bold}{/cyan-fg}` : line;
    });

    const hist = v.rates.history(id);
    const times = v.sampleTimes.slice(-hist.length);
    if (hist.length < 2) {
      this.chart?.hide();
      this.setTitle(`${s.label}${this.isFocused ? ' (↑↓)' : ''}`);
      this.box.setContent('{gray-fg}a chart needs two samples{/gray-fg}');
      this.list.setContent(rows.join('\n'));
      return;
    }
    const peak = Math.max(...hist);
    rows.push(`{gray-fg}${fit(`peak ${rateText(s.scale, peak)}`, listW, 'right')}{/gray-fg}`);
    this.list.setContent(rows.join('\n'));
    this.box.setContent('');

    const { div, unit } = chartUnit(s.scale, peak, s.label);
    // About one label per two rows of the plot (the bottom three rows hold the time axis).
    const axis = yAxis(peak / div, Math.max(1, Math.min(4, Math.floor((height - 3) / 2))));
    const chart = this.chartOf(chartW, height);
    chart.show();
    const labelW = axis.maxY.toFixed(axis.step < 1 ? 2 : 0).length;
    const { y, t } = downsample(hist, times, 2 * (chartW - labelW - 2));
    Object.assign(chart.options, { maxY: axis.maxY, minY: 0, numYLabels: axis.maxY / axis.step });
    const tenths = v.nowNs - t[0] < 10e9;
    chart.setData([{ title: s.label, x: t.map((ts) => ago(v.nowNs - ts, tenths)), y: y.map((x) => x / div) }]);
    this.setTitle(`${unit}, last ${span(Math.max(1, Math.round((v.nowNs - t[0]) / 1e9)))}${this.isFocused ? ' (↑↓)' : ''}`);
  }

  /** The narrow form: label, sparkline, current value (and its peak when there is room). */
  private drawSparklines(v: View, width: number, height: number): void {
    this.chart?.hide();
    this.list.hide();
    const ids = this.ids.slice(0, height);
    const lw = Math.max(...ids.map((id) => SERIES[id].label.length));
    const vw = 12;
    const pw = width - lw - vw - 2 >= 44 ? 17 : 0;
    const sw = Math.max(0, width - lw - vw - pw - 2);
    const lines = ids.map((id) => {
      const s = SERIES[id];
      const hist = v.rates.history(id, sw);
      const peak = pw ? `{gray-fg}${fit(`peak ${rateText(s.scale, Math.max(0, ...hist))}`, pw, 'right')}{/gray-fg}` : '';
      return `${fit(s.label, lw)} {cyan-fg}${sparkline(hist, sw)}{/cyan-fg} ${fit(rateText(s.scale, v.rates.rate(id)), vw, 'right')}${peak}`;
    });
    this.setTitle(`per second, last ${v.rates.history(ids[0] ?? 'events', sw).length} redraws`);
    this.box.setContent(lines.join('\n'));
  }

  override key(name: string): boolean {
    const n = this.ids.length;
    if (name === 'down' || name === 'j') this.choice = (this.choice + 1) % n;
    else if (name === 'up' || name === 'k') this.choice = (this.choice + n - 1) % n;
    else return false;
    return true;
  }
}

/** Layout kind `sparklines`: every series as a one-line sparkline, whatever the cell's size. */
export class SparklinesPanel extends RatesPanel {
  override readonly focusable = false;
  protected override readonly charts = false;
}
