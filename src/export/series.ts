import { LE_SECONDS, leLabel } from './histogram';
import { Family, Labels } from './model';

export interface FlatSample {
  name: string;
  labels: Labels;
  value: number;
}

/**
 * Families as Prometheus series: a histogram becomes its _bucket series (one per
 * `le`, then +Inf), _sum and _count, as the text exposition writes them.
 */
export function flatten(families: Family[]): FlatSample[] {
  const out: FlatSample[] = [];
  for (const f of families) {
    if (f.type !== 'histogram') {
      for (const s of f.samples) out.push({ name: f.name, labels: s.labels, value: s.value });
      continue;
    }
    for (const s of f.samples) {
      LE_SECONDS.forEach((le, i) => out.push({ name: `${f.name}_bucket`, labels: { ...s.labels, le: leLabel(le) }, value: s.cumulative[i] }));
      out.push({ name: `${f.name}_bucket`, labels: { ...s.labels, le: leLabel(Infinity) }, value: s.count });
      out.push({ name: `${f.name}_sum`, labels: s.labels, value: s.sum });
      out.push({ name: `${f.name}_count`, labels: s.labels, value: s.count });
    }
  }
  return out;
}
