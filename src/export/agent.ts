import * as os from 'node:os';
import { Aggregator } from '../aggregate/engine';
import { isSummed } from '../aggregate/truth';
import { callsOf, noCalls } from '../aggregate/calls';
import type { RawEvent } from '../events/types';
import { native } from '../loader/native';
import type { MapMemoryUse } from '../probes/kernel-memory';
import type { KernelMapUse } from '../source/kernel-aggregates';
import { Pipeline } from '../source/pipeline';
import { EventSource } from '../source/source';
import { ExportDump, exportDump } from './dump';
import { BpfProgStat, buildFamilies, exportFamilies, Family, sampleCount, TargetStats } from './model';
import type { OtlpTarget } from './otlp';
import { ScrapeEndpoint } from './prometheus';
import type { RemoteWriteTarget } from './remote-write';

// Loaded only when asked for: OpenTelemetry's 250 modules and protobufjs are 3 MB of
// heap and 9 MB resident that a scrape-only agent never uses.
/* eslint-disable @typescript-eslint/no-require-imports */
const remoteWriteModule = () => require('./remote-write') as typeof import('./remote-write');
const otlpModule = () => require('./otlp') as typeof import('./otlp');
/* eslint-enable @typescript-eslint/no-require-imports */

export interface AgentOptions {
  source: EventSource;
  leakAgeNs: number;
  /** Scrape endpoint address; none when undefined. */
  listen?: { host: string; port: number };
  remoteWrite?: string;
  otlp?: string;
  intervalMs: number;
  /** Per push request. */
  timeoutMs: number;
  /** Bound of each push target's queue. */
  maxQueueSamples: number;
  /** BPF program run statistics (live, when the kernel keeps them). */
  bpfStats?: () => BpfProgStat[] | undefined;
  /** Per-VM series (`--vm-label`). */
  vmLabel?: boolean;
  /** Check mode (the source also hands over every summed call): keep a per-event twin for dump(). */
  checkAggregation?: boolean;
}

/** How long a stopping agent gives healthy targets to take the last values. */
const CLOSE_MS = 3000;

/**
 * Check mode: where the kernel's summing and the table of summed probes (truth.ts
 * SUMMED) disagree: probes the kernel summed that the table does not list, and
 * probes with calls the table says are summed (callsOf) that came unsummed.
 */
export interface SumCheck {
  unlisted: string[];
  unsummed: string[];
}

/** What `export --dump` writes: the state, and live in aggregated mode how full the kernel's tables were. */
export type AgentDump = ExportDump & { every_event?: ExportDump; kernel_maps?: KernelMapUse[]; kernel_memory?: { possible_cpus: number; maps: MapMemoryUse[] }; sum_check?: SumCheck };

/**
 * The export agent: one source feeds one aggregator; the scrape endpoint and the
 * push targets all read the same model of it. A push target that fails only
 * fills (and overflows) its own bounded queue.
 */
export class ExportAgent {
  readonly pipeline: Pipeline;
  readonly endpoint?: ScrapeEndpoint;
  readonly remoteWrite?: RemoteWriteTarget;
  readonly otlp?: OtlpTarget;
  private timer?: NodeJS.Timeout;
  private lastPushMs = 0;
  private readonly sumCheck?: { unlisted: Set<string>; unsummed: Set<string> };

  constructor(private readonly opts: AgentOptions) {
    const src = opts.source;
    const check = opts.checkAggregation ? { unlisted: new Set<string>(), unsummed: new Set<string>() } : undefined;
    this.sumCheck = check;
    const one = noCalls('iommu.map', 0, 0, '', 0n, -1);
    this.pipeline = new Pipeline(src, {
      leakAgeNs: opts.leakAgeNs,
      summed: true,
      twin: opts.checkAggregation,
      onEveryEvent: check
        ? (e: RawEvent, summed: boolean) => {
            if (summed && !isSummed(e.probe)) check.unlisted.add(e.probe);
            // The kernel sends a call it would sum through the ring only when it_agg is full.
            if (!summed && callsOf(e, one)) check.unsummed.add(e.probe);
          }
        : undefined,
    });
    if (opts.listen) this.endpoint = new ScrapeEndpoint(() => this.families());
    const host = src.kind === 'live' ? os.hostname() : src.host;
    if (opts.remoteWrite) {
      this.remoteWrite = new (remoteWriteModule().RemoteWriteTarget)({ url: opts.remoteWrite, labels: { job: 'iommutrace', instance: host }, timeoutMs: opts.timeoutMs, maxQueueSamples: opts.maxQueueSamples });
    }
    if (opts.otlp) {
      const resource = { 'service.name': 'iommutrace', 'host.name': host, 'os.type': 'linux', 'os.version': src.kernelRelease };
      this.otlp = new (otlpModule().OtlpTarget)({ url: opts.otlp, resource, timeoutMs: opts.timeoutMs, maxQueueSamples: opts.maxQueueSamples });
    }
  }

  get aggregator(): Aggregator {
    return this.pipeline.agg;
  }

  private get queues(): (TargetStats & { close(deadlineMs: number): Promise<void> })[] {
    const out = [];
    if (this.remoteWrite) out.push(this.remoteWrite.queue);
    if (this.otlp) out.push(this.otlp.queue);
    return out;
  }

  /** The model of the current state, with the agent's own health. */
  families(): Family[] {
    const src = this.opts.source;
    // Read at scrape time: what the kernel summed since the last look (aggregated mode).
    src.flush?.();
    const model = buildFamilies({
      aggregator: this.aggregator,
      nowNs: src.now(),
      probes: src.probes,
      probeChanges: src.probeChanges,
      lost: src.lost(),
      sumOverflow: src.sumOverflow?.(),
      kernelMaps: src.kernelMaps?.(),
      kernelMemory: src.kernelMemory?.(),
      source: { kind: src.kind, host: src.host, kernel: src.kernelRelease },
      bpf: this.opts.bpfStats?.(),
      vmLabel: this.opts.vmLabel,
    });
    return [...model, ...exportFamilies(this.queues)];
  }

  /** The state, unrounded (export --dump); in check mode with the per-event twin's under `every_event`. */
  dump(): AgentDump {
    const src = this.opts.source;
    const now = src.now();
    const out: AgentDump = exportDump(this.aggregator, now, src.lost());
    const twin = this.pipeline.twin;
    if (twin) out.every_event = exportDump(twin, now, src.lost());
    if (this.sumCheck) out.sum_check = { unlisted: [...this.sumCheck.unlisted].sort(), unsummed: [...this.sumCheck.unsummed].sort() };
    // Aggregated mode: the kernel's tables as the last read left them (the domains still holding latency keys).
    const maps = src.kernelMaps?.();
    if (maps?.length) out.kernel_maps = maps;
    const memory = src.kernelMemory?.();
    if (memory?.length) out.kernel_memory = { possible_cpus: native().numPossibleCpus, maps: memory };
    return out;
  }

  /** Starts serving and pushing; resolves with the scrape address once it listens. */
  async start(onEnd: () => void): Promise<string | undefined> {
    let address: string | undefined;
    if (this.endpoint && this.opts.listen) {
      const a = await this.endpoint.listen(this.opts.listen.host, this.opts.listen.port);
      address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    }
    this.pipeline.start(() => {
      // The final values go out now rather than at the next tick.
      this.push();
      onEnd();
    });
    if (this.remoteWrite || this.otlp) this.timer = setInterval(() => this.push(), this.opts.intervalMs);
    return address;
  }

  private push(): void {
    if (!this.remoteWrite && !this.otlp) return;
    // Strictly increasing timestamps: a receiver refuses a second value at the same time.
    const now = Math.max(Date.now(), this.lastPushMs + 1);
    this.lastPushMs = now;
    const families = this.families();
    this.remoteWrite?.push(families, now);
    this.otlp?.push(families, sampleCount(families), now);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.opts.source.stop();
    this.push();
    await Promise.all([...this.queues.map((q) => q.close(CLOSE_MS)), this.endpoint?.close()]);
  }
}
