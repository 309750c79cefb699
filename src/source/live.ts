import * as os from 'node:os';
import { Decoder, timeBase } from '../events/decode';
import { EventSchema } from '../events/schema';
import { RawEvent } from '../events/types';
import { forEachRecord, Kallsyms, RingBuffer } from '../loader';
import { CATALOGUE } from '../probes/catalogue';
import { LiveKernel } from '../probes/kernel-live';
import { PlannedProbe } from '../probes/planner';
import { DEFAULT_OBJECT, ProbeSession, SessionOptions } from '../probes/session';
import { EventSource, ProbeStatus } from './source';

export type LiveOptions = SessionOptions;

/**
 * The kernel as an event source: plans and attaches the probes, consumes the ring
 * buffer on the event loop, decodes with layouts from the object's BTF. Event
 * times count from `clockBaseNs` (CLOCK_MONOTONIC at start, as bpf_ktime_get_ns).
 */
export class LiveSource implements EventSource {
  readonly kind = 'live';
  readonly host = os.hostname();
  readonly clockBaseNs: bigint;
  readonly wallBaseUnixNs: number;
  events = 0;
  private kallsyms?: Kallsyms;
  private onEvent: (e: RawEvent) => void = () => {};
  private ring!: RingBuffer;

  private constructor(
    readonly kernel: LiveKernel,
    readonly session: ProbeSession,
    readonly decoder: Decoder,
    clockBaseNs: bigint,
    wallBaseUnixNs: number,
  ) {
    this.clockBaseNs = clockBaseNs;
    this.wallBaseUnixNs = wallBaseUnixNs;
  }

  /** Plans and attaches the probes; events wait in the kernel's ring until start(). */
  static async open(options: LiveOptions = {}): Promise<LiveSource> {
    const kernel = new LiveKernel();
    const objectPath = options.objectPath ?? DEFAULT_OBJECT;
    const decoder = new Decoder(EventSchema.fromFile(objectPath));
    // Taken before attaching, so no event predates it.
    const clockBaseNs = process.hrtime.bigint();
    const wallBaseUnixNs = Date.now() * 1e6;
    decoder.base = timeBase(clockBaseNs);
    let session: ProbeSession;
    try {
      session = await ProbeSession.start(kernel, CATALOGUE, options);
    } catch (err) {
      kernel.close();
      throw err;
    }
    const src = new LiveSource(kernel, session, decoder, clockBaseNs, wallBaseUnixNs);
    src.ring = new RingBuffer(session.object.map('it_events'), (batch) => {
      forEachRecord(batch, (off, len) => {
        const e = decoder.decode(batch.buffer, off, len);
        if (!e) return;
        src.events++;
        src.onEvent(e);
      });
    });
    src.ring.pause();
    return src;
  }

  start(onEvent: (e: RawEvent) => void): void {
    this.onEvent = onEvent;
    this.ring.resume();
  }

  get kernelRelease(): string {
    return this.kernel.release;
  }

  get planned(): PlannedProbe[] {
    return this.session.probes;
  }

  get probes(): ProbeStatus[] {
    return this.session.probes.map((p) => ({ name: p.name, target: p.target, mode: p.mode, status: p.status, reason: p.reason }));
  }

  get attached(): Set<string> {
    return new Set(this.session.attached().map((p) => p.name));
  }

  /** Nanoseconds since the clock base, now. */
  now(): number {
    return Number(process.hrtime.bigint() - this.clockBaseNs);
  }

  /** Events the kernel could not put in the ring (it was full), since the session started. */
  lost(): number {
    return this.counter('ringbuf_lost');
  }

  counter(name: string): number {
    const id = this.decoder.schema.counters.get(name);
    if (id === undefined) return 0;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(id);
    const m = this.session.object.map('it_counters');
    const v = m.lookup(key);
    return v ? Number(m.sumU64(v)) : 0;
  }

  symbolize(address: bigint): string {
    this.kallsyms ??= Kallsyms.load();
    return this.kallsyms.symbolize(address);
  }

  pause(): void {
    this.ring.pause();
  }

  resume(): void {
    this.ring.resume();
  }

  /**
   * Detaches, hands over what is still in the ring, then closes. Returns the
   * final count of lost events (read before the maps go away).
   */
  stop(): number {
    for (const l of this.session.object.links()) l.close();
    if (!this.ring.closed) {
      this.ring.drain();
      this.ring.close();
    }
    const lost = this.lost();
    this.session.close();
    this.kernel.close();
    return lost;
  }
}
