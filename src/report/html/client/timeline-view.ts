/**
 * The timeline: bytes mapped per device or process and pages pinned per process over
 * the capture, with uPlot; marks for attaches, detaches, refused maps and faults;
 * zoom, hover. Inlined into the page as source (see kit.ts).
 */
import type { DomNode, Kit } from './kit';
import type { PageReport } from '../refs';
import type { TimelineData } from '../timeline';

// tsc builds this with Node's types only (see kit.ts): the browser's objects typed loosely.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const devicePixelRatio: number;

export function drawTimeline(kit: Kit, report: PageReport, tl: TimelineData, uPlot: any): void {
  const { COLORS, MARK_COLORS, bytes, ns, int, secs, tick, el, section, notWatched } = kit;
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
