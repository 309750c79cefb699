import { recordedDevices, type HostDevice } from '../probes/iommu-groups';
import { probesAtEnd, probesThatRan } from '../capture/header';
import { CaptureContents, CaptureStream } from '../capture/reader';
import { RawEvent } from '../events/types';
import type { ProcessFacts } from '../process/facts';
import { ReplaySums } from './replay-sums';
import { CallsSink, EndNote, EventSource, ProbeStatus } from './source';

export interface ReplayOptions {
  /** 1 plays at the recorded pace, 10 ten times faster, 0 as fast as possible. */
  speed?: number;
  /** How often the player wakes up to hand over the events that are due. */
  tickMs?: number;
  /** Only the events it keeps are played (report --pid, --since, --until); the others are passed over. */
  filter?: (e: RawEvent) => boolean;
}

/** Events handed over per turn of the event loop when playing as fast as possible. */
const CHUNK = 20_000;

/**
 * The player's tick for a screen redrawn every `redrawMs`: a quarter of it. The
 * screen asks for what is due before each redraw (flush), so a longer tick only
 * hands the events over in longer runs: at 100,000 events/s, waking 4 times a
 * second instead of 20 took the replay into the dashboard's model from 4.3 to
 * 3.7 % of a core (medians of 8 interleaved runs; longer runs, warmer caches).
 */
export function replayTickMs(redrawMs: number): number {
  return Math.max(DEFAULT_TICK_MS, redrawMs / 4);
}

const DEFAULT_TICK_MS = 50;

/** A capture played back as if it were the kernel, at a chosen speed. */
export class ReplaySource implements EventSource {
  readonly kind = 'replay';
  readonly contents: CaptureContents;
  private readonly stream: CaptureStream;
  /** The next event to play, read ahead by one. */
  private head: RawEvent | undefined;
  private done = false;
  private readonly symbols: Map<string, string>;
  private played = 0;
  private position = 0;
  private timer?: NodeJS.Timeout | NodeJS.Immediate;
  private paused = false;
  private lastWall = 0;
  private onEvent: (e: RawEvent) => void = () => {};
  private onEnd: () => void = () => {};
  /** With a sink (top, export): the calls the kernel sums live, summed. */
  private sums?: ReplaySums;
  readonly speed: number;
  private readonly tickMs: number;
  private readonly filter?: (e: RawEvent) => boolean;

  constructor(path: string, options: ReplayOptions = {}) {
    this.stream = new CaptureStream(path);
    this.contents = this.stream.contents;
    this.symbols = this.contents.symbols;
    this.speed = options.speed ?? 1;
    this.tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    this.filter = options.filter;
  }

  get host(): string {
    return this.contents.header.host;
  }

  get kernelRelease(): string {
    return this.contents.header.kernelRelease;
  }

  /** As they ended: a probe whose module was unloaded during the recording shows detached, one whose module loaded later attached. */
  get probes(): ProbeStatus[] {
    // What was asked for: the report alone lists the probes --probes left out.
    const asked = probesAtEnd(this.contents.header, this.contents.snapshots).filter((p) => p.reasonCode !== 'not_requested');
    return asked.map((p) => ({
      name: p.name,
      target: p.target || null,
      mode: p.mode || null,
      status: p.status,
      reason: p.reason || null,
    }));
  }

  get attached(): Set<string> {
    return probesThatRan(this.contents.header, this.contents.snapshots);
  }

  get hostDevices(): HostDevice[] {
    return recordedDevices(this.contents.header.devices);
  }

  get events(): number {
    return this.played;
  }

  get ended(): boolean {
    return this.peek() === undefined;
  }

  /** The next event to play; the stream builds events one at a time, so they die young. */
  private peek(): RawEvent | undefined {
    if (this.head || this.done) return this.head;
    this.head = this.stream.nextEvent();
    if (!this.head) {
      this.stream.close();
      this.done = true;
    }
    return this.head;
  }

  endNote(): EndNote | undefined {
    const c = this.contents;
    if (c.damage) return { state: 'damaged', detail: `the capture is damaged: ${c.damage}; what came before it was played` };
    if (c.cut) return { state: 'cut', detail: `the capture was cut at byte ${c.cutAt ?? c.bytes} of ${c.bytes}; what came before it was played` };
    return undefined;
  }

  now(): number {
    return this.position;
  }

  lost(): number {
    return this.contents.trailer?.lost ?? 0;
  }

  symbolize(address: bigint): string {
    return this.symbols.get(address.toString(16)) ?? '0x' + address.toString(16);
  }

  processFacts(pid: number): ProcessFacts | undefined {
    return this.contents.processes.get(pid);
  }

  processFactsUnread(): number {
    return this.contents.processesUnread;
  }

  /**
   * Plays the events to `onEvent`; with a `sink`, as a live source in aggregated
   * mode hands them over: the calls the kernel sums go to the sink summed (ReplaySums).
   */
  start(onEvent: (e: RawEvent) => void, onEnd: () => void = () => {}, sink?: CallsSink): void {
    this.onEvent = onEvent;
    this.onEnd = onEnd;
    this.sums = sink && new ReplaySums(sink);
    this.lastWall = Date.now();
    this.schedule();
  }

  private schedule(): void {
    if (this.paused) return;
    if (this.speed === 0) this.timer = setImmediate(() => this.tick());
    else this.timer = setTimeout(() => this.tick(), this.tickMs);
  }

  /** Hands over the events due by now (at most `budget` of them); the end is the tick's to tell. */
  private play(budget: number): void {
    const wall = Date.now();
    let until = Infinity;
    if (this.speed !== 0) {
      this.position += (wall - this.lastWall) * 1e6 * this.speed;
      until = this.position;
    }
    this.lastWall = wall;
    const sums = this.sums;
    const filter = this.filter;
    for (let e = this.peek(); e && budget-- > 0 && e.ts_ns <= until; e = this.peek()) {
      this.head = undefined;
      if (filter && !filter(e)) continue;
      this.played++;
      if (e.ts_ns > this.position) this.position = e.ts_ns;
      if (sums) {
        if (sums.take(e)) continue;
        sums.flush();
      }
      this.onEvent(e);
    }
    sums?.flush();
  }

  /** What is due by now, before a redraw (played at a pace; as fast as possible, the ticks play it all). */
  flush(): void {
    if (this.speed !== 0 && !this.paused && this.timer) this.play(Infinity);
  }

  /** Plays what is left at once, in this turn, and ends (a report: no pace, no screen to yield to). */
  playAll(): void {
    this.clear();
    this.play(Infinity);
    this.tick();
  }

  private tick(): void {
    this.play(this.speed === 0 ? CHUNK : Infinity);
    if (this.ended) {
      const end = this.contents.trailer?.endNs ?? this.position;
      if (end > this.position) this.position = end;
      this.timer = undefined;
      this.onEnd();
      return;
    }
    this.schedule();
  }

  pause(): void {
    this.paused = true;
    this.clear();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastWall = Date.now();
    if (!this.ended) this.schedule();
  }

  private clear(): void {
    if (!this.timer) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  stop(): number {
    this.paused = true;
    this.clear();
    if (!this.done) this.stream.close();
    this.done = true;
    return this.lost();
  }
}
