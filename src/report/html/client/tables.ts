/**
 * The report's tables: devices, processes, refused maps, IO page faults, probes;
 * sortable. Inlined into the page as source (see kit.ts).
 */
import type { Kit } from './kit';
import type { PageReport } from '../refs';

export function drawTables(kit: Kit, report: PageReport): void {
  const { bytes, int, pct, secs, el, section, notWatched, table } = kit;
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
    notWatched('faults')
      ? el('p', { class: 'note' }, 'not watched')
      : table('faults-table', [
          { key: 'device', label: 'device' },
          { key: 'iommu_driver', label: 'IOMMU' },
          { key: 'count', label: 'faults', num: true, fmt: int },
          { key: 'reads', label: 'reads', num: true, fmt: int },
          { key: 'writes', label: 'writes', num: true, fmt: int },
          { key: 'reasons', label: 'reasons', fmt: (v) => Object.entries(v as Record<string, number>).map(([c, k]) => `${c} x${k}`).join(' ') },
          { key: 'last', label: 'last IOVA', fmt: (v) => (v as { iova: string }[]).at(-1)?.iova ?? '-' },
          { key: 'vm', label: 'held by', fmt: (v, r) => v ?? (r.pid == null ? '-' : String(r.pid)) },
        ], report.faults),
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
