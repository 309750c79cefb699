import type { Calls } from '../aggregate/calls';
import { RawEvent } from '../events/types';
import type { HostDevice } from '../probes/iommu-groups';
import type { MapMemoryUse } from '../probes/kernel-memory';
import type { ProcessFacts } from '../process/facts';
import type { KernelMapUse } from './kernel-aggregates';

/** Why a replay ended early: in a word, and where. */
export interface EndNote {
  state: 'cut' | 'damaged';
  detail: string;
}

/** A probe as every sink shows it: what was chosen, and whether it runs. */
export interface ProbeStatus {
  name: string;
  target: string | null;
  mode: string | null;
  status: string;
  reason: string | null;
}

/** Takes summed calls: what the kernel summed live in aggregated mode, or a replay's sums (top and export). */
/** A probe that attached (its module loaded) or detached (its module unloaded) during the session. */
export interface ProbeChange {
  probe: string;
  module: string;
  change: 'attached' | 'detached';
  /** When it was noticed, ns from the clock base. */
  atNs: number;
  /** The same moment on the wall clock (Unix seconds). */
  unixSeconds: number;
  reason: string;
}

export interface CallsSink {
  addCalls(c: Calls): void;
  /**
   * Check mode: every event, the summed ones too (start's onEvent gets only the
   * others, as in aggregated mode); `summed` says whether the kernel summed it.
   */
  everyEvent?(e: RawEvent, summed: boolean): void;
}

/**
 * Where events come from: the running kernel (LiveSource) or a capture
 * (ReplaySource). Everything after the decoder (aggregation, TUI, exporters) is
 * written against this, and so runs the same on both.
 */
export interface EventSource {
  readonly kind: 'live' | 'replay';
  readonly host: string;
  readonly kernelRelease: string;
  readonly probes: ProbeStatus[];
  /** Logical probes that are attached (decides which events are authoritative). */
  readonly attached: Set<string>;
  /** Every device behind an IOMMU when the session (or the recording) began. */
  readonly hostDevices?: HostDevice[];
  /** Event time (ns from the source's start) the source has reached. */
  now(): number;
  /** Events the kernel could not hand over (ring full), so far. */
  lost(): number;
  /** Aggregated mode: calls sent through the ring because the kernel's sum table was full (not lost). */
  sumOverflow?(): number;
  /** Aggregated mode: how full the kernel's sum and histogram tables were at the last read. */
  kernelMaps?(): KernelMapUse[];
  /** Live: each BPF map's capacity, its size when full and the kernel's count of its bytes. */
  kernelMemory?(): MapMemoryUse[];
  /** Events delivered so far. */
  readonly events: number;
  symbolize(address: bigint): string;
  /** What the recording host read of a process (VM name, cgroup), when it read it. */
  processFacts?(pid: number): ProcessFacts | undefined;
  /** Events whose process was not looked up (the recording host's table was full). */
  processFactsUnread?(): number;
  /** Why a replay ended before its trailer (the file was cut or is damaged, and where); undefined otherwise. */
  endNote?(): EndNote | undefined;
  /**
   * Starts delivering events; `onEnd` fires when a replay runs out (never for live).
   * With a `sink`, the calls the kernel sums (truth.ts SUMMED) go there summed:
   * read from the kernel live in aggregated mode, summed as played in a replay.
   */
  start(onEvent: (e: RawEvent) => void, onEnd?: () => void, sink?: CallsSink): void;
  /** Live: the probes that attached or detached since the start, in order. */
  readonly probeChanges?: readonly ProbeChange[];
  /** Live: `listener` hears of probes attaching and detaching as modules load and unload, after `probes` and `attached` say so. */
  onProbeChange?(listener: (changes: ProbeChange[]) => void): void;
  /** Hands over now what the kernel summed (before a scrape or a redraw); nothing to do elsewhere. */
  flush?(): void;
  pause(): void;
  resume(): void;
  /** Stops for good; returns the final lost count. */
  stop(): number;
}
