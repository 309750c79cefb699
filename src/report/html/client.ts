/**
 * The HTML report's page script. page.ts inlines this function's source (its
 * toString()), so it must stand alone: no imports at run time, nothing from outside
 * its body but the inlined uPlot and the data it is handed. Capture text is hostile
 * data: it only ever reaches the page through textContent and attributes.
 */
import type { PageReport } from './refs';
import type { TimelineData } from './timeline';

// tsc builds this with Node's types only (the DOM's would retype fetch and more for
// the rest of the program), so the browser's objects are typed loosely here.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const devicePixelRatio: number;
type DomNode = any;

export function pageMain(data: { report: PageReport; timeline: TimelineData; tool: string }, uPlot: any): void {
  const report = data.report;
  const tl = data.timeline;
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

  // --- header ---
  {
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

  // --- timeline ---
  {
    const s = section('timeline', 'Timeline', `Bytes mapped (maps minus unmaps since the capture began: below zero when what was mapped before it is unmapped) and pages pinned (pins minus unpins) at the end of each ${ns(tl.bin_ns)} bin. Drag to zoom, double-click to reset; hover for values. Marks: ${Object.entries(tl.mark_counts).map(([k, v]) => `${k.replace('_', ' ')} ${v}`).join(', ')}${tl.marks.length < Object.values(tl.mark_counts).reduce((a, b) => a + b, 0) ? ` (the first ${tl.marks.length} drawn)` : ''}.`);
    const pick = el('div', { class: 'pick' });
    const byDevice = el('input', { type: 'radio', name: 'by', id: 'by-device', checked: '' }) as DomNode;
    const byProcess = el('input', { type: 'radio', name: 'by', id: 'by-process' }) as DomNode;
    pick.append(byDevice, el('label', { for: 'by-device' }, 'per device'), byProcess, el('label', { for: 'by-process' }, 'per process / VM'));
    const legend = el('div', { class: 'marks' });
    for (const k of Object.keys(MARK_COLORS)) legend.append(el('span', { style: `border-color:${MARK_COLORS[k]}` }, k.replace('_', ' ')));
    const mapped = el('div', { id: 'chart-mapped', class: 'chart' });
    const pinned = el('div', { id: 'chart-pinned', class: 'chart' });
    const tip = el('div', { id: 'mark-tip', class: 'tip' });
    s.append(pick, legend, el('h3', {}, 'Mapped'), mapped, el('h3', {}, 'Pinned (per process)'), pinned, tip);
    const n = tl.devices[0]?.map_bytes.length ?? tl.processes[0]?.map_bytes.length ?? 0;
    // x: each bin's end, after a zero at the start, so a ramp starts from nothing.
    // and a last point at the capture's end, so the axis spans the whole capture.
    const end = Math.max(report.capture.duration_ns, n * tl.bin_ns) / 1e9;
    const xs = [0, ...Array.from({ length: n }, (_, i) => ((i + 1) * tl.bin_ns) / 1e9), end];
    const level = (add: number[], sub: number[]): number[] => {
      let v = 0;
      const out = [0, ...add.map((a, i) => (v += a - sub[i]))];
      out.push(v);
      return out;
    };
    const marksPlugin = {
      hooks: {
        draw: (u: any) => {
          const ctx = u.ctx as DomNode;
          const { top, height } = u.bbox;
          ctx.save();
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          for (const m of tl.marks) {
            const x = u.valToPos(m.ts_ns / 1e9, 'x', true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = MARK_COLORS[m.kind];
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
        setCursor: (u: any) => {
          const left = u.cursor.left;
          if (left == null || left < 0) {
            tip.style.display = 'none';
            return;
          }
          const near = tl.marks.filter((m) => Math.abs(u.valToPos(m.ts_ns / 1e9, 'x') - left) <= 3);
          if (!near.length) {
            tip.style.display = 'none';
            return;
          }
          tip.replaceChildren(...near.slice(0, 6).map((m) => el('div', {}, `${secs(m.ts_ns / 1e9)} ${m.text}`)), ...(near.length > 6 ? [el('div', {}, `and ${near.length - 6} more`)] : []));
          tip.style.display = 'block';
        },
      },
    };
    // First shown: where something happened (all series and marks), with a margin;
    // double-click shows the whole capture.
    const activity = ((): { min: number; max: number } | undefined => {
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of [...tl.devices, ...tl.processes]) {
        for (const arr of [x.map_bytes, x.unmap_bytes, x.pinned_pages, x.unpinned_pages]) {
          const first = arr.findIndex((v) => v !== 0);
          if (first < 0) continue;
          lo = Math.min(lo, first * tl.bin_ns);
          hi = Math.max(hi, (arr.length - [...arr].reverse().findIndex((v) => v !== 0)) * tl.bin_ns);
        }
      }
      for (const m of tl.marks) {
        lo = Math.min(lo, m.ts_ns);
        hi = Math.max(hi, m.ts_ns);
      }
      if (!(hi > lo)) return undefined;
      const pad = (hi - lo) * 0.05;
      const min = Math.max(0, lo - pad) / 1e9;
      const max = Math.min(end * 1e9, hi + pad) / 1e9;
      // Not worth it when the activity covers most of the capture anyway.
      return max - min < end * 0.8 ? { min, max } : undefined;
    })();
    const charts: any[] = [];
    const draw = (): void => {
      for (const c of charts.splice(0)) c.destroy();
      // Pins belong to processes only: the pinned chart is per process either way.
      const series = byDevice.checked ? tl.devices : tl.processes;
      const width = Math.max(600, (document.getElementById('main')!.clientWidth || 1000) - 20);
      const make = (target: DomNode, which: 'bytes' | 'pages'): void => {
        const shown = (which === 'bytes' ? series : tl.processes).filter((x) => (which === 'bytes' ? x.map_bytes : x.pinned_pages).some((v) => v));
        target.replaceChildren();
        if (!shown.length) {
          target.append(el('p', { class: 'note' }, which === 'bytes' ? (notWatched('dma') ? 'DMA not watched.' : 'nothing mapped') : notWatched('pins') ? 'pins not watched.' : 'nothing pinned'));
          return;
        }
        const fmt = which === 'bytes' ? bytes : int;
        const ys = shown.map((x) => (which === 'bytes' ? level(x.map_bytes, x.unmap_bytes) : level(x.pinned_pages, x.unpinned_pages)));
        const opts = {
          width,
          height: 240,
          scales: { x: { time: false } },
          cursor: { drag: { x: true, y: false }, sync: { key: 'timeline' } },
          legend: { live: true },
          series: [{ label: 'time', value: (_u: any, v: number | null) => (v == null ? '-' : secs(v)) }, ...shown.map((x, i) => ({ label: x.label, stroke: COLORS[i % COLORS.length], width: 1.5, value: (_u: any, v: number | null) => fmt(v) }))],
          axes: [{ values: (_u: any, vals: number[]) => vals.map((v) => tick(v)) }, { size: 80, values: (_u: any, vals: number[]) => vals.map((v) => fmt(v)) }],
          plugins: [marksPlugin],
          hooks: {
            setScale: [
              (u: any, key: string) => {
                if (key !== 'x') return;
                // The range on show, for whoever reads the page (the browser test).
                target.dataset.xmin = String(u.scales.x.min);
                target.dataset.xmax = String(u.scales.x.max);
                for (const c of charts) if (c !== u && (c.scales.x.min !== u.scales.x.min || c.scales.x.max !== u.scales.x.max)) c.setScale('x', { min: u.scales.x.min, max: u.scales.x.max });
              },
            ],
          },
        };
        const chart = new uPlot(opts, [xs, ...ys], target);
        charts.push(chart);
        if (activity) chart.setScale('x', activity);
      };
      make(mapped, 'bytes');
      make(pinned, 'pages');
    };
    byDevice.addEventListener('change', draw);
    byProcess.addEventListener('change', draw);
    draw();
  }

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

  // --- latency ---
  {
    const s = section('latency', 'Latency', 'Per probe: calls by latency in power-of-two ranges (the lower bound under each bar) and the report\'s percentiles. Per device: its map calls, from the events.');
    const rows = Object.entries(report.latency).map(([probe, p]) => ({ probe, ...p }));
    s.append(
      table('latency-table', [
        { key: 'probe', label: 'probe' },
        { key: 'count', label: 'calls', num: true, fmt: int },
        { key: 'p50_ns', label: 'p50', num: true, fmt: ns },
        { key: 'p90_ns', label: 'p90', num: true, fmt: ns },
        { key: 'p99_ns', label: 'p99', num: true, fmt: ns },
        { key: 'max_ns', label: 'max', num: true, fmt: ns },
      ], rows),
    );
    const grid = el('div', { class: 'grid' });
    for (const [probe, hist] of Object.entries(report.latency_histograms)) {
      const used = hist.filter((b) => b.count > 0);
      if (!used.length) continue;
      const from = hist.indexOf(used[0]);
      const to = hist.indexOf(used[used.length - 1]);
      grid.append(el('figure', { 'data-probe': probe }, el('figcaption', {}, probe), bars(hist.slice(from, to + 1).map((b) => ({ label: shortNs(b.low_ns), value: b.count, title: `${ns(b.low_ns)} to ${ns(b.high_ns)}: ${int(b.count)} calls` })))));
    }
    s.append(el('h3', {}, 'Per probe'), grid);
    const dev = el('div', { class: 'grid' });
    for (const [device, h] of Object.entries(tl.device_map_latency)) {
      const first = h.findIndex((c) => c > 0);
      const last = h.length - 1 - [...h].reverse().findIndex((c) => c > 0);
      if (first < 0) continue;
      dev.append(el('figure', { 'data-device': device }, el('figcaption', {}, `${device}: map`), bars(h.slice(first, last + 1).map((c, i) => ({ label: shortNs(2 ** (first + i)), value: c, title: `${ns(2 ** (first + i))} to ${ns(2 ** (first + i + 1))}: ${int(c)} maps` })), '#9467bd')));
    }
    s.append(el('h3', {}, 'Per device'), dev);
    const iotlb = Object.entries(report.iotlb).map(([device, r]) => ({ device, ...r }));
    s.append(
      el('h3', {}, 'IOTLB invalidations per device'),
      notWatched('iotlb')
        ? el('p', { class: 'note' }, 'not watched')
        : table('iotlb-table', [
            { key: 'device', label: 'device' },
            { key: 'sync_calls', label: 'syncs', num: true, fmt: int },
            { key: 'sync_bytes', label: 'bytes synced', num: true, fmt: bytes },
            { key: 'sync_latency', label: 'sync p50 / p99', fmt: (v) => (v ? `${ns(v.p50_ns)} / ${ns(v.p99_ns)}` : '-') },
            { key: 'flush_calls', label: 'flushes', num: true, fmt: int },
            { key: 'flush_latency', label: 'flush p50 / p99', fmt: (v) => (v ? `${ns(v.p50_ns)} / ${ns(v.p99_ns)}` : '-') },
          ], iotlb),
    );
  }

  // --- mapping shape ---
  {
    const s = section('shape', 'Mapping shape', 'Successful map calls per device by size class (powers of two from 4 KiB); huge: the share of bytes mapped in calls of 2 MiB or more.');
    if (notWatched('map_sizes')) s.append(el('p', { class: 'note' }, 'not watched'));
    const sizeLabel = (size: number): string => bytes(size).replace(/\.0+ /, ' ').replace(' ', '');
    const grid = el('div', { class: 'grid' });
    for (const [device, classes] of Object.entries(report.map_sizes)) {
      const row = report.devices.find((d) => d.device === device);
      const items = Object.entries(classes)
        .map(([k, c]) => ({ size: Number(k), ...c }))
        .sort((a, b) => a.size - b.size);
      grid.append(
        el(
          'figure',
          { 'data-device': device },
          el('figcaption', {}, `${device}: ${int(items.reduce((a, c) => a + c.calls, 0))} maps, huge ${pct(row?.huge_map_share)}`),
          bars(items.map((c) => ({ label: sizeLabel(c.size), value: c.calls, title: `${bytes(c.size)}: ${int(c.calls)} calls, ${bytes(c.bytes)}` })), '#2ca02c'),
        ),
        el(
          'figure',
          { 'data-device': device, 'data-of': 'bytes' },
          el('figcaption', {}, `${device}: bytes by size class`),
          bars(items.map((c) => ({ label: sizeLabel(c.size), value: c.bytes, title: `${bytes(c.size)}: ${bytes(c.bytes)} in ${int(c.calls)} calls` })), '#17becf', (v) => bytes(v).replace(/\.\d+ /, ' ').replace(' ', '')),
        ),
      );
    }
    s.append(grid);
  }

  // --- group references: icicle of the takers' stacks ---
  {
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

  // --- the report's tables ---
  {
    const s = section('tables', 'Tables');
    s.append(
      el('h3', {}, 'Devices'),
      table('devices-table', [
        { key: 'device', label: 'device' },
        { key: 'group', label: 'group', num: true },
        { key: 'driver', label: 'driver' },
        { key: 'path', label: 'path' },
        { key: 'iommu_driver', label: 'IOMMU' },
        { key: 'domain_type', label: 'domain' },
        { key: 'attaches', label: 'attaches', num: true, fmt: int },
        { key: 'detaches', label: 'detaches', num: true, fmt: int },
        { key: 'attach_errors', label: 'attach errors', num: true, fmt: int },
        { key: 'map_calls', label: 'maps', num: true, fmt: int },
        { key: 'map_bytes', label: 'mapped', num: true, fmt: bytes },
        { key: 'unmap_calls', label: 'unmaps', num: true, fmt: int },
        { key: 'unmap_bytes', label: 'unmapped', num: true, fmt: bytes },
        { key: 'huge_map_share', label: 'huge', num: true, fmt: pct },
      ], report.devices),
      el('h3', {}, 'Processes'),
      table('processes-table', [
        { key: 'pid', label: 'pid', num: true },
        { key: 'comm', label: 'command' },
        { key: 'vm', label: 'VM' },
        { key: 'cgroup', label: 'cgroup' },
        { key: 'map_bytes', label: 'mapped', num: true, fmt: bytes },
        { key: 'unmap_bytes', label: 'unmapped', num: true, fmt: bytes },
        { key: 'pinned_pages', label: 'pinned', num: true, fmt: int },
        { key: 'unpinned_pages', label: 'unpinned', num: true, fmt: int },
        { key: 'map_bytes_per_s', label: 'map rate', num: true, fmt: (v) => (v == null ? '-' : `${bytes(v)}/s`) },
        { key: 'huge_map_share', label: 'huge', num: true, fmt: pct },
      ], report.processes),
      el('h3', {}, 'Map failures'),
      notWatched('map_failures')
        ? el('p', { class: 'note' }, 'not watched')
        : table('failures-table', [
            { key: 'pid', label: 'pid', num: true },
            { key: 'comm', label: 'command' },
            { key: 'vm', label: 'VM' },
            { key: 'api', label: 'call' },
            { key: 'errno', label: 'errno' },
            { key: 'cause', label: 'cause' },
            { key: 'count', label: 'refused', num: true, fmt: int },
            { key: 'bytes', label: 'asked', num: true, fmt: bytes },
            {
              key: 'detail',
              label: 'the kernel held',
              fmt: (d) =>
                [
                  d.locked_bytes != null ? `locked ${bytes(d.locked_bytes)}` : '',
                  d.limit_bytes !== undefined ? `limit ${d.limit_bytes === null ? 'unlimited' : bytes(d.limit_bytes)}` : '',
                  d.dma_entries != null ? `entries ${int(d.dma_entries)}` : '',
                  d.dma_entry_limit != null ? `entry limit ${int(d.dma_entry_limit)}` : '',
                ]
                  .filter(Boolean)
                  .join(', ') || '-',
            },
          ], report.map_failures),
      el('h3', {}, 'IO page faults'),
      notWatched('page_faults')
        ? el('p', { class: 'note' }, 'not watched')
        : table('faults-table', [
            { key: 'ts_ns', label: 'time', num: true, fmt: (v) => secs(v / 1e9) },
            { key: 'device', label: 'device' },
            { key: 'iova', label: 'IOVA' },
            { key: 'flags', label: 'flags', num: true, fmt: (v) => `0x${v.toString(16)}` },
          ], report.page_faults),
      el('h3', {}, 'Probes'),
      table('probes-table', [
        { key: 'name', label: 'probe' },
        { key: 'target', label: 'target' },
        { key: 'mode', label: 'mode' },
        { key: 'status', label: 'status' },
        { key: 'events', label: 'events', num: true, fmt: int },
        { key: 'reason', label: 'reason' },
      ], report.probes),
    );
  }
  // Milliseconds from navigation to a drawn page (the benchmark reads it).
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', 'true');
}
