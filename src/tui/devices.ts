import * as blessed from 'blessed';
import { DeviceRow } from '../aggregate/devices';
import { FaultRow } from '../aggregate/faults';
import { IotlbRow } from '../aggregate/iotlb';
import { SizeClasses } from '../aggregate/map-sizes';
import { rowKey } from '../aggregate/per-device';
import { Percentiles } from '../aggregate/loglinear';
import { compact, count, formatBytes, formatDuration, mibPerSec } from './format';
import { WidgetSpec } from './layout';
import { View } from './model';
import { Details, UiState } from './panel';
import { Column } from './table';
import { ColumnId, TablePanel } from './table-panel';

interface Row extends DeviceRow {
  key: string;
  sizes: SizeClasses | undefined;
  iotlb: IotlbRow | undefined;
  mapsPerSec: number;
  bytesPerSec: number;
  lat?: Percentiles;
  pinned: number;
  faults: FaultRow | undefined;
}

/** A column of the devices table: its id one of layout.ts's. */
type DeviceColumn = Column<Row> & { id: ColumnId<'devices'> };

const num = (id: ColumnId<'devices'>, title: string, width: number, v: (r: Row) => number, text: (n: number) => string = count): DeviceColumn => ({
  id,
  title,
  width,
  align: 'right',
  text: (r) => text(v(r)),
  key: v,
});

const latency = (id: ColumnId<'devices'>, title: string, q: 'p50_ns' | 'p99_ns'): DeviceColumn => ({
  id,
  title,
  width: 8,
  align: 'right',
  text: (r) => (r.lat?.count ? formatDuration(r.lat[q]) : '-'),
  key: (r) => r.lat?.[q] ?? -1,
});

const COLUMNS: DeviceColumn[] = [
  { id: 'device', title: 'DEVICE', width: 12, align: 'left', flex: true, text: (r) => (r.domain ? `unknown ${r.domain}` : r.device), key: (r) => r.device },
  { id: 'group', title: 'GRP', width: 4, align: 'right', text: (r) => (r.group >= 0 ? String(r.group) : '-'), key: (r) => r.group },
  { id: 'driver', title: 'DRIVER', width: 9, align: 'left', text: (r) => r.driver || '-', key: (r) => r.driver },
  { id: 'path', title: 'PATH', width: 10, align: 'left', text: (r) => r.path ?? '-', key: (r) => r.path ?? '' },
  num('attaches', 'ATT', 4, (r) => r.attaches),
  num('detaches', 'DET', 4, (r) => r.detaches),
  { ...num('errors', 'ERR', 4, (r) => r.attach_errors), tag: (r) => (r.attach_errors ? 'red-fg' : undefined) },
  num('maps_per_s', 'MAPS/s', 7, (r) => r.mapsPerSec, compact),
  num('mib_per_s', 'MiB/s', 6, (r) => r.bytesPerSec, mibPerSec),
  num('mapped', 'MAPPED', 10, (r) => r.map_bytes, formatBytes),
  num('unmapped', 'UNMAPPED', 10, (r) => r.unmap_bytes, formatBytes),
  latency('map_p50', 'MAP p50', 'p50_ns'),
  latency('map_p99', 'MAP p99', 'p99_ns'),
  num('pinned', 'PINNED', 7, (r) => r.pinned, compact),
  { ...num('faults', 'FAULTS', 6, (r) => r.faults?.count ?? 0, compact), tag: (r) => (r.faults?.count ? 'red-fg' : undefined) },
];

/** Its IO page faults: reads and writes, reasons, and the newest address. */
function faultLine(f: FaultRow | undefined): string {
  if (!f) return '-';
  const reasons = Object.entries(f.reasons).map(([code, n]) => `${code} x${count(n)}`).join(', ');
  const last = f.last.at(-1);
  return `${count(f.count)} (${count(f.reads)} reads, ${count(f.writes)} writes; reason ${reasons})${last ? `   last iova ${last.iova}` : ''}`;
}

/** Its map calls by size class, smallest first, and the share of bytes in huge (2 MiB+) calls. */
function mapSizes(r: Row): string {
  const classes = Object.entries(r.sizes ?? {});
  if (!classes.length) return '-';
  const parts = classes.map(([size, c]) => `${formatBytes(Number(size))}: ${count(c.calls)} (${formatBytes(c.bytes)})`);
  // The share first: a long list of classes is cut at the box's edge.
  const share = r.huge_map_share === null ? '' : `2 MiB or larger: ${(r.huge_map_share * 100).toFixed(1)}% of bytes · `;
  return share + parts.join(' · ');
}

/** Its IOTLB invalidations: range syncs with the bytes covered, whole-domain flushes, p50/p99 of each. */
function iotlbLine(x: IotlbRow | undefined): string {
  if (!x) return '-';
  const lat = (p: Percentiles | null) => (p ? ` p50 ${formatDuration(p.p50_ns)} p99 ${formatDuration(p.p99_ns)}` : '');
  return `${count(x.sync_calls)} syncs, ${formatBytes(x.sync_bytes)}${lat(x.sync_latency)}   ${count(x.flush_calls)} flushes${lat(x.flush_latency)}`;
}

/** The devices table: one row per device (BDF), sortable, selectable, filtered. */
export class DevicesPanel extends TablePanel<Row, 'devices'> {
  constructor(parent: blessed.Widgets.Node, spec: WidgetSpec) {
    super(parent, spec, 'Devices', 'devices', COLUMNS, (r) => r.key);
  }

  update(v: View, ui: UiState): void {
    const f = ui.filter.toLowerCase();
    const rows: Row[] = v.summary.devices
      .map((d) => {
        const key = rowKey(d);
        return {
          ...d,
          key,
          sizes: d.device === 'unknown' ? undefined : v.summary.map_sizes[d.device],
          iotlb: d.device === 'unknown' ? undefined : v.summary.iotlb[d.device],
          mapsPerSec: v.rates.rate(`dev:${key}:map_calls`),
          bytesPerSec: v.rates.rate(`dev:${key}:map_bytes`),
          lat: v.detail.mapLatency.get(key)?.percentiles(),
          pinned: v.detail.pinned.get(key) ?? 0,
          faults: v.summary.faults.find((x) => x.device === d.device),
        };
      })
      .filter((r) => !f || `${r.device} ${r.domain ?? ''} ${r.driver} ${r.group}`.toLowerCase().includes(f));
    this.table.setRows(rows);
    ui.selectedDevice = this.table.selected?.key;
    const { width, height } = this.inner;
    const sorted = this.table.sortColumn.title + (this.table.reverse ? ' ▲' : ' ▼');
    this.setTitle(`${rows.length} · sort ${sorted}${ui.filter ? ` · filter "${ui.filter}"` : ''}`);
    const lines = this.table.render(width, height, this.isFocused);
    if (rows.length === 0) lines.push(`{gray-fg}${ui.filter ? 'no device matches the filter' : 'no device seen yet'}{/gray-fg}`);
    this.box.setContent(lines.join('\n'));
  }

  override details(): Details | undefined {
    const r = this.table.selected;
    if (!r) return undefined;
    const lat = r.lat;
    const lines = [
      `device        ${r.domain ? `unknown (domain ${r.domain})` : r.device}`,
      `group         ${r.group >= 0 ? r.group : '-'}`,
      `driver        ${r.driver || '-'}`,
      `path          ${r.path ?? '-'} (vfio-group: group + container, vfio-cdev: device cdev on iommufd, kernel: a kernel driver's DMA API)`,
      `iommu         ${r.iommu_driver ?? '-'}   domain ${r.domain_type ?? '-'}`,
      `attaches      ${count(r.attaches)}   detaches ${count(r.detaches)}   attach errors ${count(r.attach_errors)}`,
      `maps          ${count(r.map_calls)} calls, ${formatBytes(r.map_bytes)}   now ${compact(r.mapsPerSec)}/s, ${mibPerSec(r.bytesPerSec)} MiB/s`,
      `unmaps        ${count(r.unmap_calls)} calls, ${formatBytes(r.unmap_bytes)}`,
      `map sizes     ${mapSizes(r)}`,
      `iotlb         ${iotlbLine(r.iotlb)}`,
      `map latency   ${lat ? `n ${count(lat.count)}  p50 ${formatDuration(lat.p50_ns)}  p90 ${formatDuration(lat.p90_ns)}  p99 ${formatDuration(lat.p99_ns)}  max ${formatDuration(lat.max_ns)}` : '-'}`,
      `pinned pages  ${count(r.pinned)} (pinned minus unpinned by the processes that attached it)`,
      `io faults     ${faultLine(r.faults)}`,
    ];
    return { title: `Device ${r.domain ? 'unknown' : r.device}`, body: lines.join('\n') };
  }
}
