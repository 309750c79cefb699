/**
 * Latency: the report's percentiles and power-of-two histograms per probe, the map
 * calls' per device, IOTLB invalidations. Inlined into the page as source (see
 * kit.ts).
 */
import type { Kit } from './kit';
import type { PageReport } from '../refs';
import type { TimelineData } from '../timeline';

export function drawLatency(kit: Kit, report: PageReport, tl: TimelineData): void {
  const { bytes, ns, int, el, section, notWatched, table, bars, shortNs } = kit;
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
