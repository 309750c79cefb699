import * as blessed from 'blessed';
import { ProbeName } from '../generated/bpf';
import { compact, count, esc, formatBytes, formatDuration } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Panel } from './panel';

const WALK: ProbeName = 'dirty.walk';

/** Dirty-bitmap walks (live migration): rate, latency, errors, and who asked (VFIO device or iommufd). */
export class DirtyPanel extends Panel {
  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Dirty tracking');
  }

  update(v: View): void {
    const d = v.summary.dirty;
    const lat = v.summary.latency[WALK];
    const watched = v.probes.some((p) => p.name === WALK && p.status === 'attached');
    const lines = [
      `walks ${count(d.walks)}  ${compact(v.rates.rate('dirty_walks'))}/s  ${d.errors ? `{red-fg}errors ${count(d.errors)}{/red-fg}` : 'errors 0'}`,
      `p50 ${lat ? formatDuration(lat.p50_ns) : '-'}  p99 ${lat ? formatDuration(lat.p99_ns) : '-'}  max ${lat ? formatDuration(lat.max_ns) : '-'}`,
      `IOVA walked ${formatBytes(d.bytes_walked)}`,
      ...Object.entries(d.by_callback).map(([fn, n]) => `{gray-fg}${esc(fn)}{/gray-fg} ${count(n)}`),
    ];
    if (!watched) lines.push('{gray-fg}dirty.walk not attached here (u){/gray-fg}');
    this.box.setContent(lines.join('\n'));
  }
}
