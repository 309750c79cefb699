/**
 * The header: host, kernel, capture time, events and loss, what was not watched.
 * Inlined into the page as source (see kit.ts).
 */
import type { Kit } from './kit';
import type { PageReport } from '../refs';

// tsc builds this with Node's types only (see kit.ts): the browser's objects typed loosely.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

export function drawHeader(kit: Kit, report: PageReport): void {
  const { ns, int, el } = kit;
  const c = report.capture;
  const h = document.getElementById('header')!;
  const probes = report.probes;
  const attached = probes.filter((p) => p.status === 'attached').length;
  const facts: [string, string][] = [
    ['host', c.host],
    ['kernel', `${c.kernel.release}${c.kernel.btf ? '' : ' (no BTF)'}`],
    ['captured', `${c.started_at}, ${ns(c.duration_ns)}`],
    ['events', `${int(report.events.total)}, ${int(report.events.lost)} lost`],
    ['probes', `${attached} attached of ${probes.length}${probes.some((p) => p.status === 'detached') ? `, ${probes.filter((p) => p.status === 'detached').length} detached` : ''}`],
    ['not watched', report.not_watched.length ? report.not_watched.join(', ') : 'nothing: every section had a probe'],
  ];
  if (c.cut) facts.push(['cut', 'the file ends early; counts cover what was read']);
  if (c.damage) facts.push(['damage', c.damage]);
  if (c.stop_reason) facts.push(['stopped by', c.stop_reason]);
  const dl = el('dl', { id: 'facts' });
  for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', { 'data-fact': k }, v));
  h.append(el('h1', {}, `iommutrace capture of ${c.host}`), dl);
  if (report.events.lost > 0) h.append(el('p', { class: 'warn', id: 'loss' }, `${int(report.events.lost)} events were lost (ring buffer full): counts are lower bounds.`));
  const o = report.overflow;
  const over = Object.entries(o).filter(([, v]) => v > 0);
  if (over.length) h.append(el('p', { class: 'warn', id: 'overflow' }, `bounded tables overflowed: ${over.map(([k, v]) => `${k} ${int(v)}`).join(', ')}`));
}
