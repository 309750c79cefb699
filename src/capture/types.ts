/** Plain-object shapes of the capture messages (see iotrace.proto). */
export interface CaptureProbe {
  name: string;
  target: string;
  mode: string;
  status: string;
  reason: string;
  module: string;
  lacks: string[];
  /** The cause of `reason` as a code; '' (or absent) in captures before 0.3.0. */
  reasonCode?: string;
}

/** ColumnType of iotrace.proto: how a column's values are stored. */
export const ColumnType = { INT: 0, STRING: 1, ADDR: 2 } as const;

export interface ColumnSpec {
  name: string;
  /** A ColumnType value. */
  type: number;
  width: number;
}

export interface EventKindSpec {
  id: number;
  name: string;
  columns: ColumnSpec[];
}

export interface CaptureHeader {
  toolVersion: string;
  host: string;
  kernelRelease: string;
  bootId: string;
  btfFingerprint: string;
  btf: boolean;
  probes: CaptureProbe[];
  /** Monotonic ns of the session start, as a decimal string (it may exceed 2^53). */
  clockBaseNs: string;
  wallBaseUnixNs: number;
  kinds: EventKindSpec[];
  leakAgeNs: number;
  lockdown: string;
  argv: string[];
  /** As protobuf gives it: '' for unknown fields. */
  devices?: { device: string; group: number; driver: string; iommuDriver: string; path: string }[];
}

export interface HistBucket {
  probe: string;
  groupId: number;
  bucket: number;
  count: number;
}

export interface Snapshot {
  tsNs: number;
  hist: HistBucket[];
  counters: { name: string; value: number }[];
  probeStats: { probe: string; calls: number; errors: number; amount: number }[];
  /** Probes that attached or detached at tsNs (modules loaded or unloaded), as they are from then on; absent before 0.5.0. */
  probes?: CaptureProbe[];
}

export interface Trailer {
  endNs: number;
  events: number;
  lost: number;
  stopReason: string;
}
