import { failureReason } from '../aggregate/map-failures';
import { Report } from '../aggregate/report';
import { formatBytes, formatDuration } from '../util/duration';
import { printableDeep, table } from './table';

const n = (x: number): string => x.toLocaleString('en-US');

/** What a section no attached probe fed shows instead of zeros. */
const NOT_WATCHED = 'not watched: no probe of this path was attached (see iommutrace doctor)';

const share = (part: number, whole: number): string => (whole ? `${((part / whole) * 100).toFixed(1)}%` : '-');

function section(title: string, body: string): string {
  return `${title}\n${body.replace(/^/gm, '  ')}`;
}

/** A funclatency-style histogram: one line per power-of-two range, with a bar. */
function log2Histogram(rows: Report['latency_histograms'][string]): string {
  const max = Math.max(1, ...rows.map((x) => x.count));
  const width = 40;
  return [
    `${'nsecs'.padStart(24)}    : count     distribution`,
    ...rows.map((x) => {
      const range = `${x.low_ns} -> ${x.high_ns - 1}`.padStart(24);
      const bar = '*'.repeat(Math.round((x.count / max) * width)).padEnd(width);
      return `${range}    : ${String(x.count).padEnd(9)} |${bar}|`;
    }),
  ].join('\n');
}

/** What the report says of the capture itself and its probes. */
function captureLines(r: Report): string[] {
  const c = r.capture;
  const out: string[] = [];
  const attached = r.probes.filter((p) => p.status === 'attached');
  out.push(
    `capture   ${c.host}  kernel ${c.kernel.release}${c.kernel.btf ? '' : ' (no BTF)'}  started ${c.started_at}  ${formatDuration(c.duration_ns)}`,
    `events    ${n(r.events.total)} (${n(r.events.lost)} lost${r.events.lost ? ': counts below are lower bounds' : ''})  stopped by ${c.stop_reason ?? (c.damage ? 'nothing: the file is damaged' : 'nothing: the file was cut')}`,
  );
  if (c.damage) out.push(`damage    ${c.damage}; counts cover what was read before it`);
  else if (c.cut) out.push('cut       the file ends before its trailer; counts cover what was read');
  // A probe attached at the start and gone during the capture (its module was unloaded).
  const detached = r.probes.filter((p) => p.status === 'detached');
  const notRequested = r.probes.filter((p) => p.reason_code === 'not_requested');
  const missing = r.probes.filter((p) => p.status !== 'attached' && p.status !== 'detached' && p.reason_code !== 'not_requested');
  out.push(
    `probes    ${attached.length} attached, ${missing.length} unavailable` +
      (notRequested.length ? `, ${notRequested.length} not requested` : '') +
      (detached.length ? `, ${detached.length} detached during the capture` : ''),
  );
  out.push('');
  out.push(section('PROBES', table(['PROBE', 'MODE', 'TARGET'], attached.map((p) => [p.name, p.mode ?? '-', p.target ?? '-']))));
  for (const p of detached) out.push(`  DETACHED  ${p.name} (${p.mode ?? '-'} ${p.target ?? '-'}): ${p.reason ?? 'no reason recorded'}; its counts stop there`);
  if (missing.length) out.push(`  unavailable: ${missing.map((p) => p.name).join(', ')} (why: report --json, or doctor)`);
  if (notRequested.length) out.push(`  not requested (--probes): ${notRequested.map((p) => p.name).join(', ')}`);
  out.push('');
  return out;
}

/** Devices: their DMA and attaches (the attach columns only where attaches were watched). */
function deviceLines(r: Report, unwatched: Set<string>): string[] {
  if (!r.devices.length) return [];
  const attaches = !unwatched.has('attaches');
  const rows = r.devices.map((x) => [
    x.device === 'unknown' ? `unknown (domain ${x.domain})` : x.device,
    x.group < 0 ? '-' : String(x.group),
    x.driver || '-',
    x.path ?? '-',
    x.iommu_driver ?? '-',
    x.domain_type ?? '-',
    attaches ? n(x.attaches) : '-',
    attaches ? n(x.detaches) : '-',
    attaches ? n(x.attach_errors) : '-',
    n(x.map_calls),
    formatBytes(x.map_bytes),
    n(x.unmap_calls),
    formatBytes(x.unmap_bytes),
  ]);
  const head = ['DEVICE', 'GROUP', 'DRIVER', 'PATH', 'IOMMU', 'DOMAIN', 'ATTACH', 'DETACH', 'ERRORS', 'MAPS', 'MAPPED', 'UNMAPS', 'UNMAPPED'];
  const out = [section('DEVICES', table(head, rows))];
  if (!attaches) out.push(`  ATTACH, DETACH, ERRORS: ${NOT_WATCHED}`);
  return out;
}

/** How mappings were invalidated and cut: IOTLB syncs and flushes, map size classes. */
function shapeLines(r: Report): string[] {
  const out: string[] = [];
  const iotlb = Object.entries(r.iotlb ?? {});
  if (iotlb.length) {
    const lat = (p: { p50_ns: number; p99_ns: number } | null) => (p ? `${formatDuration(p.p50_ns)} / ${formatDuration(p.p99_ns)}` : '-');
    const rows = iotlb.map(([device, x]) => [device, n(x.sync_calls), formatBytes(x.sync_bytes), lat(x.sync_latency), n(x.flush_calls), lat(x.flush_latency)]);
    const title = 'IOTLB INVALIDATION (sync: ranges after unmaps; flush: whole domain, lazy mode)';
    out.push(section(title, table(['DEVICE', 'SYNCS', 'BYTES', 'SYNC p50/p99', 'FLUSHES', 'FLUSH p50/p99'], rows)));
  }
  const sized = Object.entries(r.map_sizes ?? {});
  if (sized.length) {
    // One row per device and size class: how its mappings were cut (huge pages or 4 KiB runs).
    const rows = sized.flatMap(([device, classes]) => {
      const total = Object.values(classes).reduce((s, c) => s + c.bytes, 0);
      return Object.entries(classes).map(([size, c]) => [device, formatBytes(Number(size)), n(c.calls), formatBytes(c.bytes), share(c.bytes, total)]);
    });
    out.push(section('MAP SIZES (calls of at least SIZE)', table(['DEVICE', 'SIZE', 'CALLS', 'BYTES', 'SHARE'], rows)));
  }
  return out;
}

/** Processes that mapped or pinned, and the maps refused. */
function processLines(r: Report, unwatched: Set<string>): string[] {
  const out: string[] = [];
  if (r.processes.length) {
    const rows = r.processes.map((x) => [
      x.pid < 0 ? '-' : String(x.pid),
      x.comm,
      x.vm ?? '-',
      formatBytes(x.map_bytes),
      formatBytes(x.unmap_bytes),
      n(x.pinned_pages),
      n(x.unpinned_pages),
      // First to last map: how long its start-up mapping took.
      x.first_map_ns === null || x.last_map_ns === null ? '-' : formatDuration(x.last_map_ns - x.first_map_ns),
      x.map_bytes_per_s === null ? '-' : `${formatBytes(x.map_bytes_per_s)}/s`,
      x.huge_map_share === null || x.huge_map_share === undefined ? '-' : share(x.huge_map_share, 1),
      x.cgroup ?? '-',
    ]);
    out.push(section('PROCESSES', table(['PID', 'COMM', 'VM', 'MAPPED', 'UNMAPPED', 'PINNED', 'UNPINNED', 'MAPPING FOR', 'RATE', '>=2M', 'CGROUP'], rows)));
  }
  if (unwatched.has('map_failures')) out.push(section('MAP FAILURES', NOT_WATCHED));
  else if (r.map_failures.length) {
    const rows = r.map_failures.map((x) => [
      x.pid < 0 ? '-' : String(x.pid),
      x.comm,
      x.vm ?? '-',
      x.api,
      x.errno,
      x.cause,
      n(x.count),
      formatBytes(x.bytes),
      x.cap_ipc_lock ? 'yes' : 'no',
      failureReason(x),
    ]);
    out.push(section('MAP FAILURES', table(['PID', 'COMM', 'VM', 'CALL', 'ERRNO', 'CAUSE', 'COUNT', 'ASKED', 'CAP_IPC_LOCK', 'WHY'], rows)));
  }
  out.push('');
  return out;
}

/** Percentiles per probe, then each probe's histogram. */
function latencyLines(r: Report): string[] {
  const lat = Object.entries(r.latency);
  if (!lat.length) return [];
  const rows = lat.map(([k, p]) => [k, n(p.count), formatDuration(p.p50_ns), formatDuration(p.p90_ns), formatDuration(p.p99_ns), formatDuration(p.max_ns)]);
  const out = [section('LATENCY', table(['PROBE', 'COUNT', 'P50', 'P90', 'P99', 'MAX'], rows)), ''];
  for (const [probe, hist] of Object.entries(r.latency_histograms)) out.push(section(`${probe} latency`, log2Histogram(hist)), '');
  return out;
}

/** GUP, pins and dirty walks: one line each. */
function pinLines(r: Report, watched: (name: string, body: () => string) => string): string[] {
  const g = r.gup;
  const errnos = Object.entries(g.errors_by_errno);
  const callbacks = Object.entries(r.dirty.by_callback);
  return [
    section('GUP', watched('gup', () => `${n(g.calls)} calls, ${n(g.pages_requested)} pages asked, ${n(g.pages_pinned)} pinned (fast ${n(g.fast_pages)}, slow ${n(g.slow_pages)}), ${n(g.partial)} partial, ${n(g.errors)} errors` +
      (errnos.length ? ` (${errnos.map(([e, c]) => `${e} ${c}`).join(', ')})` : ''))),
    section('PINS', watched('pins', () => `vfio ${n(r.pins.vfio_pages)} pages, iommufd ${n(r.pins.iommufd_pages)} pages, unpinned ${n(r.pins.unpinned_pages)} pages`)),
    section('DIRTY', watched('dirty', () => `${n(r.dirty.walks)} walks, ${n(r.dirty.errors)} errors, ${formatBytes(r.dirty.bytes_walked)} of IOVA walked` +
      (callbacks.length ? ` (${callbacks.map(([f, c]) => `${f} ${c}`).join(', ')})` : ''))),
    '',
  ];
}

/** Group references per group: held ones with their holder, leaked ones with their taker. */
function groupLines(r: Report, unwatched: Set<string>): string[] {
  if (unwatched.has('groups')) return [section('GROUP REFERENCES', NOT_WATCHED)];
  if (!r.groups.length) return [];
  const rows: string[] = [];
  for (const grp of r.groups) {
    rows.push(`group ${grp.group} [${grp.devices.join(' ') || 'no device seen'}]: ${grp.gets} gets, ${grp.puts} puts, ${grp.outstanding} outstanding`);
    for (const h of grp.held) rows.push(`  held    by ${h.holder}: ${h.taker} (pid ${h.pid} ${h.comm}, ${formatDuration(h.age_ns)})`);
    for (const l of grp.leaked) rows.push(`  LEAKED  ${l.taker} (pid ${l.pid} ${l.comm}, ${formatDuration(l.age_ns)})`);
  }
  return [section('GROUP REFERENCES', rows.join('\n'))];
}

/** What the bounded tables could not keep (gets, puts and outstanding stay exact). */
function overflowLines(r: Report): string[] {
  const lost: string[] = [];
  if (r.overflow.group_refs) lost.push(`${n(r.overflow.group_refs)} outstanding references forgotten: the ledger was full`);
  if (r.overflow.stacks) lost.push(`${n(r.overflow.stacks)} stacks not kept: the stack table was full`);
  if (r.overflow.groups) lost.push(`${n(r.overflow.groups)} gets and puts on groups not kept: the group table was full`);
  if (r.overflow.processes) lost.push(`${n(r.overflow.processes)} events of processes past the process table's bound, summed in its "-" row`);
  if (r.overflow.map_failures) lost.push(`${n(r.overflow.map_failures)} map failures of processes past the table's bound, summed in its "-" row`);
  if (r.overflow.process_facts) lost.push(`${n(r.overflow.process_facts)} events of processes the recording host did not look up (no VM name or cgroup): its process table was full`);
  return lost.length ? [section('OVERFLOW', lost.join('\n'))] : [];
}

/** Every IOMMU's faults per device (faults[]; page_faults[] holds the tracepoint's alone), and the reports the kernel dropped. */
function faultLines(r: Report, unwatched: Set<string>): string[] {
  const dropped = r.events.fault_reports_dropped ?? 0;
  if (unwatched.has('faults')) return ['', section('IO PAGE FAULTS', NOT_WATCHED)];
  if (!r.faults?.length && !dropped) return [];
  const rows = (r.faults ?? []).map((f) => [
    f.device,
    f.iommu_driver ?? '-',
    n(f.count),
    n(f.reads),
    n(f.writes),
    Object.entries(f.reasons).map(([code, k]) => `${code} x${n(k)}`).join(' '),
    f.last.at(-1)?.iova ?? '-',
    f.vm ?? (f.pid !== null ? String(f.pid) : '-'),
  ]);
  const body = [table(['DEVICE', 'IOMMU', 'FAULTS', 'READS', 'WRITES', 'REASONS', 'LAST IOVA', 'HELD BY'], rows)];
  if (dropped) body.push(`${n(dropped)} fault reports the kernel's rate limit kept out of its log: the counts are the faults it logged`);
  return ['', section('IO PAGE FAULTS', body.join('\n'))];
}

/**
 * Report as aligned text, for a terminal. Every string in it may come from another
 * machine (host, comm, device and driver names, symbols, probe names): all are made
 * printable first, so the text holds no control character but its own newlines.
 */
export function renderReport(report: Report): string {
  const r = printableDeep(report);
  // A section no probe fed says so: its zeros would claim nothing happened.
  const unwatched = new Set(r.not_watched);
  const watched = (name: string, body: () => string): string => (unwatched.has(name) ? NOT_WATCHED : body());
  const d = r.dma;
  return [
    ...captureLines(r),
    section('DMA', watched('dma', () => `map ${n(d.map_calls)} calls, ${formatBytes(d.map_bytes)}    unmap ${n(d.unmap_calls)} calls, ${formatBytes(d.unmap_bytes)}`)),
    ...deviceLines(r, unwatched),
    ...shapeLines(r),
    ...processLines(r, unwatched),
    ...latencyLines(r),
    ...pinLines(r, watched),
    ...groupLines(r, unwatched),
    ...overflowLines(r),
    ...faultLines(r, unwatched),
  ].join('\n');
}
