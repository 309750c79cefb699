/**
 * Group references: the table per group, and the outstanding references' stacks as an
 * icicle. Inlined into the page as source (see kit.ts).
 */
import type { Kit } from './kit';
import type { PageReport } from '../refs';

// tsc builds this with Node's types only (see kit.ts): the browser's objects typed loosely.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

export function drawGroups(kit: Kit, report: PageReport): void {
  const { int, el, svgEl, section, notWatched, table } = kit;
  const s = section('groups', 'Group references', `Per IOMMU group: references taken and dropped in the capture, and those still outstanding past the leak age, held by a known long-lived holder or leaked. Below, the outstanding references' stacks as an icicle (outermost frame on top; red: leaked).`);
  if (notWatched('groups')) s.append(el('p', { class: 'note' }, 'not watched'));
  const groups = report.groups.map((g) => ({ ...g, devices: g.devices.join(' '), held_n: g.held.reduce((a, r) => a + r.count, 0), leaked_n: g.leaked.reduce((a, r) => a + r.count, 0), takers: [...new Set(g.leaked.map((r) => r.taker))].join(', ') }));
  s.append(
    table('groups-table', [
      { key: 'group', label: 'group', num: true },
      { key: 'devices', label: 'devices' },
      { key: 'gets', label: 'gets', num: true, fmt: int },
      { key: 'puts', label: 'puts', num: true, fmt: int },
      { key: 'outstanding', label: 'outstanding', num: true, fmt: int },
      { key: 'held_n', label: 'held', num: true, fmt: int },
      { key: 'leaked_n', label: 'leaked', num: true, fmt: int },
      { key: 'takers', label: 'leaked by' },
    ], groups),
  );
  interface Frame {
    name: string;
    count: number;
    leaked: number;
    kids: Map<string, Frame>;
  }
  const root: Frame = { name: 'outstanding references', count: 0, leaked: 0, kids: new Map() };
  for (const g of report.groups) {
    for (const [list, leak] of [[g.held, false], [g.leaked, true]] as const) {
      for (const r of list) {
        let n = root;
        n.count += r.count;
        if (leak) n.leaked += r.count;
        const frames = r.stack.length ? [...r.stack].reverse() : [r.taker];
        for (const f of [...frames, `${r.comm} (${r.pid})${leak ? '' : `: ${r.holder ?? 'held'}`}`]) {
          let k = n.kids.get(f);
          if (!k) n.kids.set(f, (k = { name: f, count: 0, leaked: 0, kids: new Map() }));
          k.count += r.count;
          if (leak) k.leaked += r.count;
          n = k;
        }
      }
    }
  }
  const depth = (n: Frame): number => 1 + Math.max(0, ...[...n.kids.values()].map(depth));
  const W = Math.max(600, (document.getElementById('main')!.clientWidth || 1000) - 20);
  const H = 20;
  const svg = svgEl('svg', { width: W, height: depth(root) * H, id: 'icicle' });
  const takers = new Set(report.groups.flatMap((g) => g.leaked.map((r) => r.taker)));
  const place = (n: Frame, x: number, w: number, d: number): void => {
    const g = svgEl('g', { 'data-frame': n.name, 'data-leaked': n.leaked, 'data-count': n.count });
    if (takers.has(n.name)) g.setAttribute('data-taker', 'leaked');
    const share = n.leaked / n.count;
    const r = svgEl('rect', { x, y: d * H, width: Math.max(0.5, w - 1), height: H - 1, fill: share > 0 ? `hsl(0, ${45 + 30 * share}%, ${80 - 8 * share}%)` : 'hsl(210, 45%, 80%)' });
    const title = svgEl('title', {});
    title.textContent = `${n.name}: ${n.count} outstanding, ${n.leaked} leaked`;
    g.append(r, title);
    if (w > 40) {
      const t = svgEl('text', { x: x + 4, y: d * H + 14 });
      const max = Math.floor((w - 8) / 7);
      t.textContent = n.name.length > max ? n.name.slice(0, Math.max(1, max - 1)) + '…' : n.name;
      g.append(t);
    }
    svg.append(g);
    let cx = x;
    for (const k of [...n.kids.values()].sort((a, b) => b.count - a.count)) {
      const kw = (w * k.count) / n.count;
      place(k, cx, kw, d + 1);
      cx += kw;
    }
  };
  if (root.count) {
    place(root, 0, W, 0);
    s.append(el('h3', {}, 'Takers\' stacks'), svg);
  } else s.append(el('p', { class: 'note' }, 'no reference outstanding past the leak age'));
}
