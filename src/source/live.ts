import { Decoder, timeBase } from '../events/decode';
import { EventSchema } from '../events/schema';
import { RawEvent } from '../events/types';
import { forEachRecord, Kallsyms, RingBuffer } from '../loader';
import { CATALOGUE } from '../probes/catalogue';
import { LiveKernel } from '../probes/kernel-live';
import { PlannedProbe } from '../probes/planner';
import { DEFAULT_OBJECT, ProbeSession, SessionOptions } from '../probes/session';

export interface LiveOptions extends SessionOptions {
  /** Called for every decoded event, in ring order. */
  onEvent: (e: RawEvent) => void;
}

/**
 * The kernel as an event source: plans and attaches the probes, consumes the ring
 * buffer on the event loop, decodes with layouts from the object's BTF. Event
 * times count from `clockBaseNs` (CLOCK_MONOTONIC at start, as bpf_ktime_get_ns).
 */
export class LiveSource {
  readonly clockBaseNs: bigint;
  readonly wallBaseUnixNs: number;
  events = 0;
  private kallsyms?: Kallsyms;

  private constructor(
    readonly kernel: LiveKernel,
    readonly session: ProbeSession,
    readonly decoder: Decoder,
    private readonly ring: RingBuffer,
    clockBaseNs: bigint,
    wallBaseUnixNs: number,
  ) {
    this.clockBaseNs = clockBaseNs;
    this.wallBaseUnixNs = wallBaseUnixNs;
  }

  static async start(options: LiveOptions): Promise<LiveSource> {
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
    let src: LiveSource | undefined;
    const ring = new RingBuffer(session.object.map('it_events'), (batch) => {
      forEachRecord(batch, (off, len) => {
        const e = decoder.decode(batch.buffer, off, len);
        if (!e) return;
        src!.events++;
        options.onEvent(e);
      });
    });
    src = new LiveSource(kernel, session, decoder, ring, clockBaseNs, wallBaseUnixNs);
    return src;
  }

  get probes(): PlannedProbe[] {
    return this.session.probes;
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
