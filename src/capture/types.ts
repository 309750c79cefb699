/** Plain-object shapes of the capture messages (see iotrace.proto). */
export interface CaptureProbe {
  name: string;
  target: string;
  mode: string;
  status: string;
  reason: string;
  module: string;
  lacks: string[];
}

export interface ColumnSpec {
  name: string;
  /** 0 INT, 1 STRING, 2 ADDR */
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
}

export interface Trailer {
  endNs: number;
  events: number;
  lost: number;
  stopReason: string;
}
