import { Aggregator } from '../aggregate/engine';
import type { FaultRow } from '../aggregate/faults';
import { Histogram } from '../aggregate/loglinear';
import { MapFailureRow } from '../aggregate/map-failures';
import { SizeClassCounts, SizeClasses } from '../aggregate/map-sizes';
import { ProcessRow } from '../aggregate/processes';
import type { KernelMapUse } from '../source/kernel-aggregates';
import type { MapMemoryUse } from '../probes/kernel-memory';
import { ProbeChange, ProbeStatus } from '../source/source';
import { LE_SECONDS, toExp2 } from './histogram';

export type Labels = Record<string, string>;

export interface Sample {
  labels: Labels;
  value: number;
}

export interface HistogramSample {
  labels: Labels;
  /** Cumulative counts per LE_SECONDS bound; `count` is the +Inf bucket. */
  cumulative: number[];
  count: number;
  sum: number;
}

interface FamilyBase {
  /** Prometheus name (counters end in _total). */
  name: string;
  help: string;
  /** UCUM unit for OTLP. */
  unit: string;
}

export type Family =
  | (FamilyBase & { type: 'counter' | 'gauge'; samples: Sample[] })
  | (FamilyBase & { type: 'histogram'; samples: HistogramSample[] });

export interface BpfProgStat {
  probe: string;
  program: string;
  runCount: number;
  runTimeNs: number;
}

/** Everything the metrics are made of, taken at one moment. */
export interface ModelInput {
  aggregator: Aggregator;
  /** Event time the source has reached: dates outstanding references. */
  nowNs: number;
  probes: ProbeStatus[];
  /** Live: probes that attached or detached since the start (modules loaded and unloaded). */
  probeChanges?: readonly ProbeChange[];
  lost: number;
  /** Aggregated mode: calls the kernel sent one by one because its sum table was full. */
  sumOverflow?: number;
  /** Aggregated mode: how full the kernel's tables were at the last read. */
  kernelMaps?: KernelMapUse[];
  kernelMemory?: MapMemoryUse[];
  source: { kind: string; host: string; kernel: string };
  /** Per-program run count and time; only when kernel.bpf_stats_enabled is on (live). */
  bpf?: BpfProgStat[];
  /** Per-VM series (`export --vm-label`): off by default, a label per VM name. */
  vmLabel?: boolean;
}

const counter = (name: string, help: string, unit: string, samples: Sample[]): Family => ({ name, help, unit, type: 'counter', samples });
const gauge = (name: string, help: string, unit: string, samples: Sample[]): Family => ({ name, help, unit, type: 'gauge', samples });
const one = (value: number, labels: Labels = {}): Sample[] => [{ labels, value }];

function histogramSample(labels: Labels, h: Histogram): HistogramSample {
  const e = toExp2(h);
  return { labels, cumulative: e.cumulative, count: e.count, sum: e.sumSeconds };
}

/** Sums values by key (rows of unknown domains share the device "unknown"). */
function sumBy<T>(rows: T[], key: (r: T) => string, value: (r: T) => number): Sample[] {
  const m = new Map<string, number>();
  for (const r of rows) m.set(key(r), (m.get(key(r)) ?? 0) + value(r));
  return [...m].map(([k, v]) => ({ labels: { device: k }, value: v }));
}

/** Failures summed by call, errno and cause, plus what `extra` adds (the VM); never a pid. */
function mapFailureSamples(rows: MapFailureRow[], extra: (f: MapFailureRow) => Labels): Sample[] {
  const m = new Map<string, Sample>();
  for (const f of rows) {
    const labels: Labels = { ...extra(f), api: f.api, errno: f.errno, cause: f.cause };
    const key = JSON.stringify(labels);
    const s = m.get(key) ?? { labels, value: 0 };
    s.value += f.count;
    m.set(key, s);
  }
  return [...m.values()];
}

function perDevice<T>(rows: Record<string, T>, value: (r: T) => number): Sample[] {
  return Object.entries(rows).map(([device, r]) => ({ labels: { device }, value: value(r) }));
}

/** One sample per device and size class (labels device, size: bytes). */
function bySize(sizes: Record<string, SizeClasses>, value: (c: SizeClassCounts) => number): Sample[] {
  return Object.entries(sizes).flatMap(([device, classes]) => Object.entries(classes).map(([size, c]) => ({ labels: { device, size }, value: value(c) })));
}

/**
 * Per-VM series, summed over the processes that name the VM (a restarted VM keeps
 * its series). Processes that name no VM are left out: the label stays one per VM.
 */
function vmFamilies(processes: ProcessRow[], failures: MapFailureRow[]): Family[] {
  const named = processes.filter((p) => p.vm !== null);
  const by = (v: (p: ProcessRow) => number): Sample[] => {
    const m = new Map<string, number>();
    for (const p of named) m.set(p.vm!, (m.get(p.vm!) ?? 0) + v(p));
    return [...m].map(([vm, value]) => ({ labels: { vm }, value }));
  };
  return [
    counter('iommutrace_vm_dma_mapped_bytes_total', 'Bytes a VM\'s VMM mapped for DMA (export --vm-label).', 'By', by((p) => p.map_bytes)),
    counter('iommutrace_vm_dma_unmapped_bytes_total', 'Bytes a VM\'s VMM unmapped (export --vm-label).', 'By', by((p) => p.unmap_bytes)),
    // Pins of pages pinned before the source began may be released during it: never below 0.
    counter('iommutrace_vm_map_failures_total', 'DMA maps a VM\'s VMM had refused, by call, errno and cause (export --vm-label).', '{failure}', mapFailureSamples(failures.filter((f) => f.vm !== null), (f) => ({ vm: f.vm! }))),
    gauge('iommutrace_vm_pinned_pages', 'Pages a VM\'s VMM holds pinned through VFIO or iommufd, pinned minus unpinned since the source began (export --vm-label).', '{page}', by((p) => p.pinned_pages - p.unpinned_pages).map((x) => ({ ...x, value: Math.max(0, x.value) }))),
  ];
}

/** One series per device, IOMMU driver and reason: a fault's address and process stay out of the labels. */
function faultSamples(rows: FaultRow[]): Sample[] {
  return rows.flatMap((f) =>
    Object.entries(f.reasons).map(([reason, n]) => ({ labels: { device: f.device, iommu_driver: f.iommu_driver ?? 'unknown', reason }, value: n })),
  );
}

/**
 * The exported metrics, from the aggregator's state: one model for the scrape
 * endpoint, remote write and OTLP, so all three always say the same. Labels are
 * probes, devices, groups and paths only: never pids, comms or addresses (VM
 * names only when asked, with `vmLabel`).
 */
export function buildFamilies(input: ModelInput): Family[] {
  const a = input.aggregator;
  // Metrics carry counts only: references are counted, not listed, at every scrape.
  const s = a.summary(input.nowNs, { refs: false });
  const out: Family[] = [
    ...selfFamilies(input),
    ...latencyFamilies(a),
    ...deviceFamilies(s),
    ...pinFamilies(s, a),
    ...groupFamilies(s, a.groupCounts(input.nowNs)),
    counter('iommutrace_ledger_overflow_total', 'What the bounded tables had to forget (references, stacks, groups, device latency series).', '{entry}', [
      { labels: { table: 'group_refs' }, value: s.overflow.group_refs },
      { labels: { table: 'stacks' }, value: s.overflow.stacks },
      { labels: { table: 'groups' }, value: s.overflow.groups },
      { labels: { table: 'processes' }, value: s.overflow.processes },
      { labels: { table: 'map_failures' }, value: s.overflow.map_failures },
      { labels: { table: 'process_facts' }, value: s.overflow.process_facts },
      { labels: { table: 'device_latency' }, value: a.perDevice.overflow },
    ]),
  ];
  if (input.vmLabel) out.push(...vmFamilies(s.processes, s.map_failures));
  if (input.bpf) {
    const labels = (p: BpfProgStat): Labels => ({ probe: p.probe, program: p.program });
    out.push(
      counter('iommutrace_bpf_prog_runs_total', 'Runs of each BPF program (kernel.bpf_stats_enabled).', '{run}', input.bpf.map((p) => ({ labels: labels(p), value: p.runCount }))),
      counter('iommutrace_bpf_prog_run_seconds_total', 'Time spent in each BPF program (kernel.bpf_stats_enabled).', 's', input.bpf.map((p) => ({ labels: labels(p), value: p.runTimeNs / 1e9 }))),
    );
  }
  return out;
}

type Summary = ReturnType<Aggregator['summary']>;

/** The agent itself: its source, its probes, what it received and lost, its kernel tables. */
function selfFamilies(input: ModelInput): Family[] {
  const a = input.aggregator;
  return [
    gauge('iommutrace_source_info', 'Where events come from (live kernel or a replayed capture).', '1', one(1, { kind: input.source.kind, host: input.source.host, kernel: input.source.kernel })),
    gauge(
      'iommutrace_probe_attached',
      'Whether a logical probe is attached (1) or not (0), with its attach mode.',
      '1',
      input.probes.map((p) => ({ labels: { probe: p.name, mode: p.mode ?? 'none' }, value: p.status === 'attached' ? 1 : 0 })),
    ),
    // Apart from probe_attached, whose 0 also means "never available": a detached probe
    // was attached until its module went away, which is what alerts want.
    gauge(
      'iommutrace_probe_detached',
      'Whether a logical probe was detached (1) because its module was unloaded while attached.',
      '1',
      input.probes.map((p) => ({ labels: { probe: p.name, mode: p.mode ?? 'none' }, value: p.status === 'detached' ? 1 : 0 })),
    ),
    ...probeChangeFamilies(input.probeChanges ?? []),
    counter('iommutrace_events_total', 'Events received from the kernel (or the capture).', '{event}', one(a.total)),
    counter('iommutrace_probe_events_total', 'Events received per logical probe.', '{event}', [...a.perProbe].map(([probe, n]) => ({ labels: { probe }, value: n }))),
    counter('iommutrace_lost_events_total', 'Events the kernel could not hand over (ring buffer full).', '{event}', one(input.lost)),
    counter('iommutrace_kernel_sum_overflow_total', 'Calls sent through the ring buffer one by one because the in-kernel sum table (it_agg) was full: counted, not lost.', '{call}', one(input.sumOverflow ?? 0)),
    gauge(
      'iommutrace_kernel_map_entries',
      'Keys in use in the in-kernel sum (it_agg) and latency (it_hist) tables at the last read; those of exited processes and detached domains are deleted.',
      '{key}',
      (input.kernelMaps ?? []).map((m) => ({ labels: { map: m.map }, value: m.entries })),
    ),
    gauge('iommutrace_kernel_map_max_entries', 'Capacity of each in-kernel table, in keys.', '{key}', (input.kernelMaps ?? []).map((m) => ({ labels: { map: m.map }, value: m.maxEntries }))),
    ...kernelMemoryFamilies(input.kernelMemory ?? []),
  ];
}

/** Every BPF map's memory: the kernel's own count, and the size it reaches when full (per-CPU tables sized for this host). */
function kernelMemoryFamilies(maps: readonly MapMemoryUse[]): Family[] {
  return [
    gauge(
      'iommutrace_kernel_memory_bytes',
      'Kernel memory of each BPF map, as the kernel counts it (fdinfo memlock: allocated bytes on 6.4 and later, the full size before).',
      'By',
      maps.filter((m) => m.kernelBytes !== undefined).map((m) => ({ labels: { map: m.map }, value: m.kernelBytes! })),
    ),
    gauge('iommutrace_kernel_memory_full_bytes', 'Kernel memory of each BPF map when every key is in use, on this host.', 'By', maps.map((m) => ({ labels: { map: m.map }, value: m.fullBytes }))),
  ];
}

/** When probes attached (a module loaded after the start) and detached (their module unloaded), and how often. */
function probeChangeFamilies(changes: readonly ProbeChange[]): Family[] {
  const count = new Map<string, { probe: string; change: string; n: number; last: number }>();
  for (const c of changes) {
    const k = `${c.probe}\0${c.change}`;
    const e = count.get(k) ?? { probe: c.probe, change: c.change, n: 0, last: 0 };
    e.n++;
    e.last = c.unixSeconds;
    count.set(k, e);
  }
  const rows = [...count.values()];
  return [
    counter(
      'iommutrace_probe_changes_total',
      'Times a logical probe attached after the start (its module loaded) or detached (its module unloaded).',
      '{change}',
      rows.map((r) => ({ labels: { probe: r.probe, change: r.change }, value: r.n })),
    ),
    gauge(
      'iommutrace_probe_last_change_timestamp_seconds',
      'When a logical probe last attached after the start or detached (Unix time).',
      's',
      rows.map((r) => ({ labels: { probe: r.probe, change: r.change }, value: r.last })),
    ),
  ];
}

/** Latency per probe, and per device where the device is known. */
function latencyFamilies(a: Aggregator): Family[] {
  return [
    {
      name: 'iommutrace_probe_latency_seconds',
      help: 'Latency of each probed kernel call, from log-linear buckets folded into power-of-two bounds.',
      unit: 's',
      type: 'histogram',
      samples: [...a.latency].map(([probe, h]) => histogramSample({ probe }, h)),
    },
    {
      name: 'iommutrace_device_latency_seconds',
      help: 'Latency of DMA map/unmap and attach calls per device, where the device is known.',
      unit: 's',
      type: 'histogram',
      samples: [...a.perDevice.byProbe].flatMap(([probe, m]) => [...m].map(([device, h]) => histogramSample({ probe, device }, h))),
    },
  ];
}

/** Devices: what they are, their DMA by size, their IOTLB invalidations and attaches. */
function deviceFamilies(s: Summary): Family[] {
  const rows = s.devices;
  return [
    gauge(
      'iommutrace_device_info',
      'Devices seen, with their IOMMU group and driver.',
      '1',
      rows.filter((r) => r.device !== 'unknown').map((r) => ({ labels: { device: r.device, group: String(r.group), driver: r.driver }, value: 1 })),
    ),
    counter('iommutrace_dma_mapped_bytes_total', 'Bytes mapped for DMA, per device.', 'By', sumBy(rows, (r) => r.device, (r) => r.map_bytes)),
    counter('iommutrace_dma_unmapped_bytes_total', 'Bytes unmapped, per device.', 'By', sumBy(rows, (r) => r.device, (r) => r.unmap_bytes)),
    counter('iommutrace_dma_map_calls_total', 'DMA map calls, per device.', '{call}', sumBy(rows, (r) => r.device, (r) => r.map_calls)),
    counter('iommutrace_dma_unmap_calls_total', 'DMA unmap calls, per device.', '{call}', sumBy(rows, (r) => r.device, (r) => r.unmap_calls)),
    // By size class: the share mapped in huge (2 MiB+) calls is a ratio of these in PromQL.
    counter('iommutrace_dma_mapped_bytes_by_size_total', 'Bytes mapped for DMA per device, by the call\'s size class (the largest power of two not above it, 4 KiB at least).', 'By', bySize(s.map_sizes, (c) => c.bytes)),
    counter('iommutrace_dma_map_calls_by_size_total', 'DMA map calls per device, by size class.', '{call}', bySize(s.map_sizes, (c) => c.calls)),
    counter('iommutrace_iotlb_syncs_total', 'IOTLB range invalidations (the IOMMU driver\'s iotlb_sync) per device.', '{call}', perDevice(s.iotlb, (r) => r.sync_calls)),
    counter('iommutrace_iotlb_sync_bytes_total', 'IOVA bytes the IOTLB syncs invalidated, per device.', 'By', perDevice(s.iotlb, (r) => r.sync_bytes)),
    counter('iommutrace_iotlb_flushes_total', 'Whole-domain IOTLB flushes (flush_iotlb_all: the flush queue in lazy mode) per device.', '{call}', perDevice(s.iotlb, (r) => r.flush_calls)),
    counter('iommutrace_device_attaches_total', 'Attaches of a device to an IOMMU domain.', '{attach}', sumBy(rows, (r) => r.device, (r) => r.attaches)),
    counter('iommutrace_device_detaches_total', 'Detaches (returns to the default domain).', '{detach}', sumBy(rows, (r) => r.device, (r) => r.detaches)),
    counter('iommutrace_device_attach_errors_total', 'Attaches that failed.', '{error}', sumBy(rows, (r) => r.device, (r) => r.attach_errors)),
  ];
}

/** Pins, GUP, refused maps, IO page faults and dirty walks. */
function pinFamilies(s: Summary, a: Aggregator): Family[] {
  return [
    counter('iommutrace_pinned_pages_total', 'Pages pinned for DMA, per path (vfio type1, iommufd).', '{page}', [
      { labels: { path: 'vfio' }, value: s.pins.vfio_pages },
      { labels: { path: 'iommufd' }, value: s.pins.iommufd_pages },
    ]),
    counter('iommutrace_unpinned_pages_total', 'Pages released by the unpin paths.', '{page}', one(s.pins.unpinned_pages)),
    counter('iommutrace_gup_calls_total', 'get/pin_user_pages calls.', '{call}', one(s.gup.calls)),
    counter('iommutrace_gup_pages_total', 'Pages pinned by GUP, by the path that pinned them.', '{page}', [
      { labels: { path: 'fast' }, value: s.gup.fast_pages },
      { labels: { path: 'slow' }, value: s.gup.slow_pages },
    ]),
    counter('iommutrace_gup_requested_pages_total', 'Pages GUP callers asked for.', '{page}', one(s.gup.pages_requested)),
    counter('iommutrace_gup_partial_total', 'GUP calls that pinned fewer pages than asked.', '{call}', one(s.gup.partial)),
    counter('iommutrace_gup_errors_total', 'GUP calls that failed, by errno.', '{error}', Object.entries(s.gup.errors_by_errno).map(([errno, n]) => ({ labels: { errno }, value: n }))),
    counter('iommutrace_map_failures_total', 'User-space DMA maps the kernel refused (VFIO MAP_DMA, iommufd IOAS_MAP), by call, errno and cause.', '{failure}', mapFailureSamples(s.map_failures, () => ({}))),
    counter('iommutrace_iommu_faults_total', 'IO page faults the IOMMU reported, per device, IOMMU driver and the driver\'s reason code.', '{fault}', faultSamples(s.faults)),
    counter('iommutrace_iommu_fault_reports_dropped_total', 'Fault reports the IOMMU drivers\' rate limiters kept out of the kernel log (VT-d says how many).', '{report}', one(a.ioFaults.reportsDropped)),
    counter('iommutrace_dirty_walks_total', 'Dirty-bitmap walks (iova_bitmap_for_each).', '{walk}', one(s.dirty.walks)),
    counter('iommutrace_dirty_walk_errors_total', 'Dirty-bitmap walks that failed.', '{error}', one(s.dirty.errors)),
    counter('iommutrace_dirty_walked_bytes_total', 'IOVA bytes covered by dirty-bitmap walks.', 'By', one(s.dirty.bytes_walked)),
  ];
}

/** Group references per group: taken, dropped, outstanding, and of those held and leaked. */
function groupFamilies(s: Summary, refs: Map<number, { held: number; leaked: number }>): Family[] {
  return [
    counter('iommutrace_group_reference_gets_total', 'IOMMU group references taken, per group.', '{reference}', s.groups.map((g) => ({ labels: { group: String(g.group) }, value: g.gets }))),
    counter('iommutrace_group_reference_puts_total', 'IOMMU group references dropped, per group.', '{reference}', s.groups.map((g) => ({ labels: { group: String(g.group) }, value: g.puts }))),
    gauge('iommutrace_group_references_outstanding', 'Group references taken and not dropped (gets - puts).', '{reference}', s.groups.map((g) => ({ labels: { group: String(g.group) }, value: g.outstanding }))),
    gauge('iommutrace_group_references_held', 'Outstanding references older than the leak age, kept by a known long-lived holder.', '{reference}', s.groups.map((g) => ({ labels: { group: String(g.group) }, value: refs.get(g.group)?.held ?? 0 }))),
    gauge('iommutrace_group_references_leaked', 'Outstanding references older than the leak age with no known holder: suspected leaks.', '{reference}', s.groups.map((g) => ({ labels: { group: String(g.group) }, value: refs.get(g.group)?.leaked ?? 0 }))),
  ];
}

/** Samples a family adds to a push (a histogram series is its buckets, +Inf, sum and count). */
export function sampleCount(families: Family[]): number {
  let n = 0;
  for (const f of families) n += f.type === 'histogram' ? f.samples.length * (LE_SECONDS.length + 3) : f.samples.length;
  return n;
}

export interface TargetStats {
  target: string;
  sentSamples: number;
  failures: number;
  droppedSamples: number;
  queuedSamples: number;
}

/** The agent's own health per push target: a remote that is down shows here, never stops the agent. */
export function exportFamilies(targets: TargetStats[]): Family[] {
  const per = (f: (t: TargetStats) => number): Sample[] => targets.map((t) => ({ labels: { target: t.target }, value: f(t) }));
  return [
    counter('iommutrace_export_sent_samples_total', 'Samples a push target accepted.', '{sample}', per((t) => t.sentSamples)),
    counter('iommutrace_export_failures_total', 'Failed push attempts (errors, timeouts, refusals).', '{attempt}', per((t) => t.failures)),
    counter('iommutrace_export_dropped_samples_total', 'Samples given up on: the queue was full or the target refused them.', '{sample}', per((t) => t.droppedSamples)),
    gauge('iommutrace_export_queue_samples', 'Samples waiting to be pushed.', '{sample}', per((t) => t.queuedSamples)),
  ];
}
