/*
 * Generated from build/bpf/x64/iommutrace.bpf.o by src/events/generate.ts (npm run build:types): do not edit.
 *
 * Committed, not ignored: tsc and editors work on a clean clone without clang or
 * bpftool, a change to bpf/include/events.h shows in review as the change it makes
 * here, and test/unit/generated.test.ts regenerates it to catch a stale copy.
 */

/** enum it_probe: logical probe (the CLI's name) -> value. */
export const PROBES = {
  'iommu.attach_device': 1, 'iommu.detach_device': 2, 'iommu.attach_group': 3, 'iommu.detach_group': 4,
  'iommu.replace_group': 5, 'iommu.attach_dev': 6, 'iommu.group_get': 7, 'iommu.group_ref_get': 8, 'iommu.group_put': 9,
  'iommu.map': 10, 'iommu.unmap': 11, 'iommu.map_sg': 12, 'gup.fast': 13, 'gup.fast_only': 14, 'gup.pin_fast': 15,
  'gup.get_fast': 16, 'gup.pin_remote': 17, 'gup.unpin': 18, 'gup.unpin_page': 19, 'vfio.pin': 20, 'vfio.unpin': 21,
  'iommufd.pin': 22, 'iommufd.unpin': 23, 'iommufd.iopt_pin': 24, 'dirty.walk': 25, 'dirty.alloc': 26, 'dirty.free': 27,
  'iommu.tp_attach': 28, 'iommu.tp_add': 29, 'iommu.tp_remove': 30, 'iommu.io_page_fault': 31, 'selftest.getppid': 32,
  'selftest.hist': 33, 'gup.slow': 34, 'gup.pin': 35, 'iommu.attach_handle': 36, 'iommu.detach_handle': 37,
  'iommu.map_atomic': 38, 'iommu.map_sg_atomic': 39, 'iommu.group_snapshot': 40, 'iommufd.iopt_unpin': 41,
  'vfio.map_dma': 42, 'iommufd.ioas_map': 43, 'iommu.iotlb_sync': 44, 'iommu.flush_all': 45, 'iommu.fault_log': 46,
  'iommu.domain_free': 47,
} as const;
export type ProbeName = keyof typeof PROBES;

/** enum it_event_type: event kind -> value. */
export const EVENT_KINDS = {
  attach: 1, group_ref: 2, dma: 3, gup: 4, pin: 5, dirty: 6, iommu_tp: 7, selftest: 8, map_request: 9, iotlb: 10,
  fault_log: 11,
} as const;
export type EventKind = keyof typeof EVENT_KINDS;

/** enum it_counter: counter -> index in it_counters. */
export const COUNTERS = {
  ringbuf_lost: 0, hist_overflow: 1, inflight_overflow: 2, domain_overflow: 3, exit_unmatched: 4, agg_overflow: 5,
} as const;
export type CounterName = keyof typeof COUNTERS;

/** struct it_event_hdr as events carry it (hdr.type is the event's kind). ts_ns counts from the session's start. */
export type EventHeader = {
  ts_ns: number;
  pid: number;
  tid: number;
  probe: ProbeName | 'unknown';
  ret: number;
  comm: string;
};

/** struct it_ev_attach. */
export type AttachEvent = EventHeader & {
  kind: 'attach';
  lat_ns: number;
  domain: bigint;
  group: bigint;
  domain_type: number;
  group_id: number;
  dev_name: string;
  driver: string;
};

/** struct it_ev_group_ref. */
export type GroupRefEvent = EventHeader & {
  kind: 'group_ref';
  group: bigint;
  group_id: number;
  nr_frames: number;
  dev_name: string;
  stack: bigint[];
};

/** struct it_ev_dma. */
export type DmaEvent = EventHeader & {
  kind: 'dma';
  lat_ns: number;
  domain: bigint;
  iova: bigint;
  size: number;
  done: number;
  group_id: number;
  pad: number;
};

/** struct it_ev_gup. */
export type GupEvent = EventHeader & {
  kind: 'gup';
  lat_ns: number;
  start: bigint;
  nr_pages: number;
  gup_flags: number;
  fast_pages: number;
  fast_seen: number;
};

/** struct it_ev_pin. */
export type PinEvent = EventHeader & {
  kind: 'pin';
  lat_ns: number;
  addr: bigint;
  nr_pages: number;
  pinned: number;
};

/** struct it_ev_dirty. */
export type DirtyEvent = EventHeader & {
  kind: 'dirty';
  lat_ns: number;
  bitmap: bigint;
  iova: bigint;
  length: number;
  page_size: number;
  fn: bigint;
};

/** struct it_ev_iommu_tp. */
export type IommuTpEvent = EventHeader & {
  kind: 'iommu_tp';
  iova: bigint;
  group_id: number;
  flags: number;
  dev_name: string;
  driver: string;
};

/** struct it_ev_selftest. */
export type SelftestEvent = EventHeader & {
  kind: 'selftest';
  seq: number;
};

/** struct it_ev_map_request. */
export type MapRequestEvent = EventHeader & {
  kind: 'map_request';
  lat_ns: number;
  size: number;
  locked_pages: number;
  limit_pages: number;
  cap_ipc_lock: number;
  dma_avail: number;
  dma_entry_limit: number;
  pad: number;
};

/** struct it_ev_iotlb. */
export type IotlbEvent = EventHeader & {
  kind: 'iotlb';
  lat_ns: number;
  domain: bigint;
  start: bigint;
  bytes: number;
  group_id: number;
  pad: number;
};

/** struct it_ev_fault_log. */
export type FaultLogEvent = EventHeader & {
  kind: 'fault_log';
  len: number;
  pad: number;
  text: string;
};

/** Every event, told apart by kind. */
export type RawEvent =
  | AttachEvent
  | GroupRefEvent
  | DmaEvent
  | GupEvent
  | PinEvent
  | DirtyEvent
  | IommuTpEvent
  | SelftestEvent
  | MapRequestEvent
  | IotlbEvent
  | FaultLogEvent;

export interface EventOfKind {
  attach: AttachEvent;
  group_ref: GroupRefEvent;
  dma: DmaEvent;
  gup: GupEvent;
  pin: PinEvent;
  dirty: DirtyEvent;
  iommu_tp: IommuTpEvent;
  selftest: SelftestEvent;
  map_request: MapRequestEvent;
  iotlb: IotlbEvent;
  fault_log: FaultLogEvent;
}

/** How events carry a field: a number, a string or an exact 64-bit address; width > 1 for arrays. */
export type EventField<Name extends string = string> = { readonly name: Name; readonly type: 'int' | 'string' | 'addr'; readonly width: number };

/** The header's fields, which every kind carries first. */
export const HEADER_FIELDS: readonly EventField<keyof EventHeader>[] = [
  { name: 'ts_ns', type: 'int', width: 1 },
  { name: 'pid', type: 'int', width: 1 },
  { name: 'tid', type: 'int', width: 1 },
  { name: 'probe', type: 'string', width: 1 },
  { name: 'ret', type: 'int', width: 1 },
  { name: 'comm', type: 'string', width: 1 },
];

/** Per kind, the fields its events carry (besides kind): what a capture's columns must hold. */
export const EVENT_FIELDS: { readonly [K in EventKind]: readonly EventField<keyof EventOfKind[K] & string>[] } = {
  attach: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'domain', type: 'addr', width: 1 }, { name: 'group', type: 'addr', width: 1 }, { name: 'domain_type', type: 'int', width: 1 }, { name: 'group_id', type: 'int', width: 1 }, { name: 'dev_name', type: 'string', width: 1 }, { name: 'driver', type: 'string', width: 1 }],
  group_ref: [...HEADER_FIELDS, { name: 'group', type: 'addr', width: 1 }, { name: 'group_id', type: 'int', width: 1 }, { name: 'nr_frames', type: 'int', width: 1 }, { name: 'dev_name', type: 'string', width: 1 }, { name: 'stack', type: 'addr', width: 16 }],
  dma: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'domain', type: 'addr', width: 1 }, { name: 'iova', type: 'addr', width: 1 }, { name: 'size', type: 'int', width: 1 }, { name: 'done', type: 'int', width: 1 }, { name: 'group_id', type: 'int', width: 1 }, { name: 'pad', type: 'int', width: 1 }],
  gup: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'start', type: 'addr', width: 1 }, { name: 'nr_pages', type: 'int', width: 1 }, { name: 'gup_flags', type: 'int', width: 1 }, { name: 'fast_pages', type: 'int', width: 1 }, { name: 'fast_seen', type: 'int', width: 1 }],
  pin: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'addr', type: 'addr', width: 1 }, { name: 'nr_pages', type: 'int', width: 1 }, { name: 'pinned', type: 'int', width: 1 }],
  dirty: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'bitmap', type: 'addr', width: 1 }, { name: 'iova', type: 'addr', width: 1 }, { name: 'length', type: 'int', width: 1 }, { name: 'page_size', type: 'int', width: 1 }, { name: 'fn', type: 'addr', width: 1 }],
  iommu_tp: [...HEADER_FIELDS, { name: 'iova', type: 'addr', width: 1 }, { name: 'group_id', type: 'int', width: 1 }, { name: 'flags', type: 'int', width: 1 }, { name: 'dev_name', type: 'string', width: 1 }, { name: 'driver', type: 'string', width: 1 }],
  selftest: [...HEADER_FIELDS, { name: 'seq', type: 'int', width: 1 }],
  map_request: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'size', type: 'int', width: 1 }, { name: 'locked_pages', type: 'int', width: 1 }, { name: 'limit_pages', type: 'int', width: 1 }, { name: 'cap_ipc_lock', type: 'int', width: 1 }, { name: 'dma_avail', type: 'int', width: 1 }, { name: 'dma_entry_limit', type: 'int', width: 1 }, { name: 'pad', type: 'int', width: 1 }],
  iotlb: [...HEADER_FIELDS, { name: 'lat_ns', type: 'int', width: 1 }, { name: 'domain', type: 'addr', width: 1 }, { name: 'start', type: 'addr', width: 1 }, { name: 'bytes', type: 'int', width: 1 }, { name: 'group_id', type: 'int', width: 1 }, { name: 'pad', type: 'int', width: 1 }],
  fault_log: [...HEADER_FIELDS, { name: 'len', type: 'int', width: 1 }, { name: 'pad', type: 'int', width: 1 }, { name: 'text', type: 'string', width: 1 }],
};

/** The object's programs, by the section (attach mode) each was compiled for. */
export const PROGRAMS = {
  fentry: ['iommu_attach_device_fentry', 'iommu_detach_device_fentry', 'iommu_attach_group_fentry', 'iommu_detach_group_fentry', 'iommu_replace_group_fentry', 'iommu_attach_handle_fentry', 'iommu_detach_handle_fentry', 'iommu_attach_dev_fentry', 'dirty_walk_fentry', 'dirty_alloc_fentry', 'dirty_free_fentry', 'iommu_map_fentry', 'iommu_map_atomic_fentry', 'iommu_unmap_fentry', 'iommu_map_sg_fentry', 'iommu_map_sg_atomic_fentry', 'iommu_domain_free_fentry', 'iommu_group_ref_get_fentry', 'iommu_group_put_fentry', 'gup_fast_fentry', 'gup_slow_fentry', 'gup_pin_fast_fentry', 'gup_get_fast_fentry', 'gup_pin_fentry', 'gup_pin_remote_fentry', 'gup_unpin_fentry', 'gup_unpin_page_fentry', 'iommu_iotlb_sync_fentry', 'iommu_flush_all_fentry', 'vfio_map_dma_fentry', 'iommufd_ioas_map_fentry', 'vfio_pin_fentry', 'vfio_unpin_fentry', 'iommufd_pin_fentry', 'iommufd_unpin_fentry', 'iommufd_iopt_pin_fentry', 'iommufd_iopt_unpin_fentry', 'iommu_group_snapshot_fentry'],
  fexit: ['iommu_attach_device_fexit', 'iommu_detach_device_fexit', 'iommu_attach_group_fexit', 'iommu_detach_group_fexit', 'iommu_replace_group_fexit', 'iommu_attach_handle_fexit', 'iommu_detach_handle_fexit', 'iommu_attach_dev_fexit', 'dirty_walk_fexit', 'dirty_alloc_fexit', 'iommu_map_fexit', 'iommu_map_atomic_fexit', 'iommu_unmap_fexit', 'iommu_map_sg_fexit', 'iommu_map_sg_atomic_fexit', 'iommu_group_get_fexit', 'gup_fast_fexit', 'gup_fast_only_fexit', 'gup_pin_fast_fexit', 'gup_get_fast_fexit', 'gup_pin_fexit', 'gup_pin_remote_fexit', 'iommu_iotlb_sync_fexit', 'iommu_flush_all_fexit', 'vfio_map_dma_fexit', 'iommufd_ioas_map_fexit', 'vfio_pin_fexit', 'vfio_unpin_fexit', 'iommufd_pin_fexit', 'iommufd_iopt_pin_fexit'],
  kprobe: ['iommu_attach_device_kprobe', 'iommu_detach_device_kprobe', 'iommu_attach_group_kprobe', 'iommu_detach_group_kprobe', 'iommu_replace_group_kprobe', 'iommu_attach_handle_kprobe', 'iommu_detach_handle_kprobe', 'iommu_attach_dev_kprobe', 'dirty_walk_kprobe', 'dirty_alloc_kprobe', 'dirty_free_kprobe', 'iommu_map_kprobe', 'iommu_map_atomic_kprobe', 'iommu_unmap_kprobe', 'iommu_map_sg_kprobe', 'iommu_map_sg_atomic_kprobe', 'iommu_domain_free_kprobe', 'iommu_group_get_kprobe', 'iommu_group_ref_get_kprobe', 'iommu_group_put_kprobe', 'gup_fast_kprobe', 'gup_slow_kprobe', 'gup_pin_fast_kprobe', 'gup_get_fast_kprobe', 'gup_pin_kprobe', 'gup_pin_remote_kprobe', 'gup_unpin_kprobe', 'gup_unpin_page_kprobe', 'iommu_iotlb_sync_kprobe', 'iommu_flush_all_kprobe', 'vfio_map_dma_kprobe', 'iommufd_ioas_map_kprobe', 'vfio_pin_kprobe', 'vfio_unpin_kprobe', 'iommufd_pin_kprobe', 'iommufd_unpin_kprobe', 'iommufd_iopt_pin_kprobe', 'iommufd_iopt_unpin_kprobe', 'iommu_group_snapshot_kprobe'],
  kretprobe: ['iommu_attach_device_kretprobe', 'iommu_detach_device_kretprobe', 'iommu_attach_group_kretprobe', 'iommu_detach_group_kretprobe', 'iommu_replace_group_kretprobe', 'iommu_attach_handle_kretprobe', 'iommu_detach_handle_kretprobe', 'iommu_attach_dev_kretprobe', 'dirty_walk_kretprobe', 'dirty_alloc_kretprobe', 'iommu_map_kretprobe', 'iommu_map_atomic_kretprobe', 'iommu_unmap_kretprobe', 'iommu_map_sg_kretprobe', 'iommu_map_sg_atomic_kretprobe', 'iommu_group_get_kretprobe', 'gup_fast_kretprobe', 'gup_fast_only_kretprobe', 'gup_pin_fast_kretprobe', 'gup_get_fast_kretprobe', 'gup_pin_kretprobe', 'gup_pin_remote_kretprobe', 'iommu_iotlb_sync_kretprobe', 'iommu_flush_all_kretprobe', 'vfio_map_dma_kretprobe', 'iommufd_ioas_map_kretprobe', 'vfio_pin_kretprobe', 'vfio_unpin_kretprobe', 'iommufd_pin_kretprobe', 'iommufd_iopt_pin_kretprobe'],
  tp_btf: ['iommu_map_tp_btf', 'iommu_unmap_tp_btf', 'iommu_fault_log_tp_btf', 'iommu_tp_attach_tp_btf', 'iommu_tp_add_tp_btf', 'iommu_tp_remove_tp_btf', 'iommu_io_page_fault_tp_btf'],
  raw_tp: ['iommu_map_raw_tp', 'iommu_unmap_raw_tp', 'iommu_fault_log_raw_tp', 'iommu_tp_attach_raw_tp', 'iommu_tp_add_raw_tp', 'iommu_tp_remove_raw_tp', 'iommu_io_page_fault_raw_tp'],
  tracepoint: ['iommu_map_tp', 'iommu_unmap_tp', 'iommu_fault_log_tp', 'iommu_tp_attach_tp', 'iommu_tp_add_tp', 'iommu_tp_remove_tp', 'iommu_io_page_fault_tp', 'selftest_getppid', 'selftest_hist'],
} as const;
export type ProgramName = (typeof PROGRAMS)[keyof typeof PROGRAMS][number];

/** The object's maps (.maps): BPF_MAP_TYPE_*, max_entries, key and value types. */
export const MAPS = {
  it_events: { type: 27, maxEntries: 4194304, key: null, value: null },
  it_counters: { type: 6, maxEntries: 6, key: '__u32', value: '__u64' },
  it_hist: { type: 5, maxEntries: 2048, key: 'it_hist_key', value: 'it_hist_val' },
  it_agg: { type: 5, maxEntries: 4096, key: 'it_agg_key', value: 'it_agg_val' },
  it_inflight: { type: 29, maxEntries: 0, key: 'int', value: 'it_task_inflight' },
  it_domain_group: { type: 1, maxEntries: 4096, key: '__u64', value: 'it_domain_info' },
  it_freed: { type: 9, maxEntries: 1024, key: '__u64', value: 'it_time_t' },
  it_requesters: { type: 9, maxEntries: 1024, key: '__u32', value: 'it_requester' },
  it_layouts: { type: 2, maxEntries: 1, key: '__u32', value: 'it_layouts' },
} as const;
export type MapName = keyof typeof MAPS;

/** Layouts of the structs the maps hold (byte offsets). */
export const STRUCTS = {
  it_agg_key: { size: 24, fields: {
  probe: { offset: 0, size: 2, signed: false }, size_class: { offset: 2, size: 1, signed: false },
  pad: { offset: 3, size: 1, signed: false }, group_id: { offset: 4, size: 4, signed: true },
  tgid: { offset: 8, size: 4, signed: false }, pad2: { offset: 12, size: 4, signed: false },
  domain: { offset: 16, size: 8, signed: false },
  } },
  it_agg_val: { size: 96, fields: {
  calls: { offset: 0, size: 8, signed: false }, amount: { offset: 8, size: 8, signed: false },
  asked: { offset: 16, size: 8, signed: false }, fast: { offset: 24, size: 8, signed: false },
  partial: { offset: 32, size: 8, signed: false }, lat_sum: { offset: 40, size: 8, signed: false },
  lat_max: { offset: 48, size: 8, signed: false }, first_ns: { offset: 56, size: 8, signed: false },
  last_ns: { offset: 64, size: 8, signed: false }, tid: { offset: 72, size: 4, signed: false },
  pad: { offset: 76, size: 4, signed: false }, comm: { offset: 80, size: 16, signed: false },
  } },
  it_domain_info: { size: 8, fields: {
  group_id: { offset: 0, size: 4, signed: true }, type: { offset: 4, size: 4, signed: false },
  } },
  it_hist_key: { size: 16, fields: {
  probe: { offset: 0, size: 2, signed: false }, bucket: { offset: 2, size: 2, signed: false },
  group_id: { offset: 4, size: 4, signed: true }, domain: { offset: 8, size: 8, signed: false },
  } },
  it_hist_val: { size: 64, fields: {
  count: { offset: 0, size: 8, signed: false, count: 8 },
  } },
  it_requester: { size: 20, fields: {
  tid: { offset: 0, size: 4, signed: false }, comm: { offset: 4, size: 16, signed: false },
  } },
  it_task_inflight: { size: 200, fields: {
  probe: { offset: 0, size: 2, signed: false, count: 4 }, slot: { offset: 8, size: 48, signed: false, count: 4 },
  } },
} as const;

/** struct it_agg_key. */
export interface AggKey {
  probe: number; size_class: number; pad: number; group_id: number; tgid: number; pad2: number; domain: bigint;
}

/** struct it_agg_val. */
export interface AggVal {
  calls: number; amount: number; asked: number; fast: number; partial: number; lat_sum: number; lat_max: number;
  first_ns: bigint; last_ns: bigint; tid: number; pad: number; comm: string;
}

/** struct it_domain_info. */
export interface DomainInfo {
  group_id: number; type: number;
}

/** struct it_hist_key. */
export interface HistKey {
  probe: number; bucket: number; group_id: number; domain: bigint;
}

/** struct it_hist_val. */
export interface HistVal {
  count: number[];
}

/** struct it_requester. */
export interface Requester {
  tid: number; comm: string;
}

/** struct it_task_inflight. */
export interface TaskInflight {
  probe: number[]; slot: number[];
}

/** Load-time constants (const volatile in .rodata): offset and size. */
export const CONSTANTS = {
  it_cfg_record_all: { offset: 0, size: 1 }, it_cfg_target_tgid: { offset: 4, size: 4 },
  it_cfg_selftest_burst: { offset: 8, size: 4 }, it_cfg_dma_entry_limit_addr: { offset: 16, size: 8 },
  it_cfg_wake_bytes: { offset: 24, size: 4 },
} as const;
export type ConstantName = keyof typeof CONSTANTS;

/** Values for the load-time constants (booleans as 0 or 1). */
export type Constants = { [K in ConstantName]: number | bigint | boolean };
