/**
 * Decoded events as the aggregator sees them (live, or read back from a capture).
 * ts_ns counts from the session's start. Field names and widths come from
 * bpf/include/events.h through BTF (see decode.ts); these interfaces only name
 * what the TypeScript code reads. Addresses (it_addr_t) are bigint, the rest number.
 */
export interface EventHeader {
  ts_ns: number;
  pid: number;
  tid: number;
  type: number;
  /** Logical probe name, e.g. 'iommu.map'. */
  probe: string;
  ret: number;
  comm: string;
}

export interface AttachEvent extends EventHeader {
  kind: 'attach';
  lat_ns: number;
  domain: bigint;
  group: bigint;
  domain_type: number;
  group_id: number;
  dev_name: string;
  driver: string;
}

export interface GroupRefEvent extends EventHeader {
  kind: 'group_ref';
  group: bigint;
  group_id: number;
  nr_frames: number;
  dev_name: string;
  stack: bigint[];
}

export interface DmaEvent extends EventHeader {
  kind: 'dma';
  lat_ns: number;
  domain: bigint;
  iova: bigint;
  size: number;
  done: number;
}

export interface GupEvent extends EventHeader {
  kind: 'gup';
  lat_ns: number;
  start: bigint;
  nr_pages: number;
  gup_flags: number;
  fast_pages: number;
  fast_seen: number;
}

export interface PinEvent extends EventHeader {
  kind: 'pin';
  lat_ns: number;
  addr: bigint;
  nr_pages: number;
  pinned: number;
}

export interface DirtyEvent extends EventHeader {
  kind: 'dirty';
  lat_ns: number;
  bitmap: bigint;
  iova: bigint;
  length: number;
  page_size: number;
  fn: bigint;
}

export interface IommuTpEvent extends EventHeader {
  kind: 'iommu_tp';
  iova: bigint;
  group_id: number;
  flags: number;
  dev_name: string;
  driver: string;
}

export interface SelftestEvent extends EventHeader {
  kind: 'selftest';
  seq: number;
}

export type RawEvent =
  | AttachEvent
  | GroupRefEvent
  | DmaEvent
  | GupEvent
  | PinEvent
  | DirtyEvent
  | IommuTpEvent
  | SelftestEvent;
