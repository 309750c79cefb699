/**
 * Mapping shape: map calls and bytes per device by size class, and the huge share.
 * Inlined into the page as source (see kit.ts).
 */
import type { Kit } from './kit';
import type { PageReport } from '../refs';

export function drawShape(kit: Kit, report: PageReport): void {
  const { bytes, int, pct, el, section, notWatched, bars } = kit;
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
