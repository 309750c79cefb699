/**
 * Decoded events as the aggregator sees them (live, or read back from a capture):
 * the interfaces generated from the BPF object's BTF (src/generated/bpf.ts).
 */
export type {
  AttachEvent,
  DirtyEvent,
  DmaEvent,
  EventHeader,
  EventKind,
  EventOfKind,
  GroupRefEvent,
  GupEvent,
  IommuTpEvent,
  MapRequestEvent,
  IotlbEvent,
  FaultLogEvent,
  PinEvent,
  ProbeName,
  RawEvent,
  SelftestEvent,
} from '../generated/bpf';
