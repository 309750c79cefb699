/**
 * What every section of the HTML report's page draws with: number formats, element
 * builders, sortable tables and bar charts. Like every file of this folder, its
 * function is inlined into the page as source (page.ts: toString()), so it must stand
 * alone: no imports at run time, nothing from outside its body. Capture text is
 * hostile data: it only ever reaches the page through textContent and attributes.
 */
import type { PageReport } from '../refs';

// tsc builds this with Node's types only (the DOM's would retype fetch and more for
// the rest of the program), so the browser's objects are typed loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
export type DomNode = any;

export function pageKit(report: PageReport) {
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
  const MARK_COLORS: Record<string, string> = { attach: '#2ca02c', detach: '#7f7f7f', map_failure: '#d62728', fault: '#ff7f0e' };

  // --- formatting ---
  const bytes = (v: number | null | undefined): string => {
    if (v == null) return '-';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let x = Math.abs(v);
    let u = 0;
    while (x >= 1024 && u < units.length - 1) {
      x /= 1024;
      u++;
    }
    return `${v < 0 ? '-' : ''}${u ? x.toFixed(x < 10 ? 2 : 1) : x} ${units[u]}`;
  };
  const ns = (v: number | null | undefined): string => {
    if (v == null) return '-';
    if (v < 1e3) return `${v} ns`;
    if (v < 1e6) return `${(v / 1e3).toFixed(1)} µs`;
    if (v < 1e9) return `${(v / 1e6).toFixed(1)} ms`;
    return `${(v / 1e9).toFixed(2)} s`;
  };
  const int = (v: number | null | undefined): string => (v == null ? '-' : v.toLocaleString('en-US'));
  const pct = (v: number | null | undefined): string => (v == null ? '-' : `${(v * 100).toFixed(1)} %`);
  const secs = (v: number): string => `${v.toFixed(v < 10 ? 3 : 1)} s`;
  const tick = (v: number): string => `${+v.toFixed(4)} s`;

  const el = (tag: string, attrs: Record<string, string> = {}, ...kids: (DomNode | string)[]): DomNode => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const k of kids) e.append(k);
    return e;
  };
  const SVG = 'http://www.w3.org/2000/svg';
  const svgEl = (tag: string, attrs: Record<string, string | number>): DomNode => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    return e;
  };
  const section = (id: string, title: string, note?: string): DomNode => {
    const s = el('section', { id }, el('h2', {}, title));
    if (note) s.append(el('p', { class: 'note' }, note));
    document.getElementById('main')!.append(s);
    return s;
  };
  const notWatched = (s: string): boolean => report.not_watched.includes(s);

  // --- sortable tables: click a heading to sort by it, again to reverse ---
  interface Col {
    key: string;
    label: string;
    fmt?: (v: any, row: any) => string;
    num?: boolean;
  }
  const table = (id: string, cols: Col[], rows: any[]): DomNode => {
    const t = el('table', { id, class: 'sortable' });
    const head = el('tr');
    const body = el('tbody');
    let sortKey = '';
    let dir = 1;
    const fill = (): void => {
      body.replaceChildren(
        ...rows.map((r) =>
          el(
            'tr',
            {},
            ...cols.map((c) => {
              const v = r[c.key];
              const td = el('td', { 'data-key': c.key, 'data-value': typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v) }, c.fmt ? c.fmt(v, r) : v == null ? '-' : String(v));
              if (c.num) td.className = 'num';
              // Long cells are cut to the column's width: the whole text on hover.
              if (td.textContent.length > 40) td.setAttribute('title', td.textContent);
              return td;
            }),
          ),
        ),
      );
    };
    for (const c of cols) {
      const th = el('th', { 'data-key': c.key, title: 'sort' }, c.label);
      if (c.num) th.className = 'num';
      th.addEventListener('click', () => {
        dir = sortKey === c.key ? -dir : c.num ? -1 : 1;
        sortKey = c.key;
        rows = [...rows].sort((a, b) => {
          const x = a[c.key];
          const y = b[c.key];
          if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;
          return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * dir;
        });
        for (const h of head.children) h.removeAttribute('data-sorted');
        th.setAttribute('data-sorted', dir > 0 ? 'up' : 'down');
        fill();
      });
      head.append(th);
    }
    fill();
    t.append(el('thead', {}, head), body);
    if (!rows.length) t.append(el('caption', {}, 'none'));
    return t;
  };

  // --- bars: one SVG bar chart of labelled counts ---
  const bars = (items: { label: string; value: number; title: string }[], color = '#1f77b4', fmt: (v: number) => string = String): DomNode => {
    // Wide enough for the longest label or value at 10px.
    const w = Math.max(36, 8 + 6 * Math.max(...items.map((i) => Math.max(i.label.length, fmt(i.value).length))));
    const h = 120;
    const max = Math.max(1, ...items.map((i) => i.value));
    const svg = svgEl('svg', { width: items.length * w + 10, height: h + 34, class: 'bars' });
    items.forEach((it, i) => {
      const bh = it.value ? Math.max(1, (it.value / max) * h) : 0;
      const r = svgEl('rect', { x: 5 + i * w + 3, y: h - bh + 12, width: w - 6, height: bh, fill: color });
      r.append(svgEl('title', {}));
      r.lastChild!.textContent = it.title;
      const t = svgEl('text', { x: 5 + i * w + w / 2, y: h + 26, 'text-anchor': 'middle' });
      t.textContent = it.label;
      const v = svgEl('text', { x: 5 + i * w + w / 2, y: h - bh + 9, 'text-anchor': 'middle', class: 'v' });
      v.textContent = it.value ? fmt(it.value) : '';
      svg.append(r, t, v);
    });
    return svg;
  };
  const shortNs = (v: number): string => (v < 1e3 ? `${v}ns` : v < 1e6 ? `${Math.round(v / 1e3)}µs` : v < 1e9 ? `${Math.round(v / 1e6)}ms` : `${Math.round(v / 1e9)}s`);
  return { COLORS, MARK_COLORS, bytes, ns, int, pct, secs, tick, el, svgEl, section, notWatched, table, bars, shortNs };
}

export type Kit = ReturnType<typeof pageKit>;
