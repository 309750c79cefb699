import { probeRecord } from './header';
import type { CaptureHeader } from './types';
import { CaptureWriter } from './writer';
import type { RawEvent } from '../events/types';
import type { LiveSource } from '../source/live';
import type { ProbeChange } from '../source/source';

/**
 * A live source written into a capture: every event, the processes' facts with
 * each flush (a cut file keeps the names of what it holds), a snapshot when
 * probes attach or detach, and at the end the symbols of the stacks and callbacks seen,
 * resolved on this host. The first write that fails stops all writing; `failed`
 * then holds it, and the file stays readable up to its last whole chunk.
 */
export class Recorder {
  failed: unknown;
  /** Stack and callback addresses, symbolized at the end. */
  private readonly addresses = new Set<bigint>();

  constructor(
    private readonly src: LiveSource,
    readonly writer: CaptureWriter,
  ) {}

  /** Runs `op` unless a write failed before; false once one has. */
  private write(op: () => void): boolean {
    if (this.failed === undefined) {
      try {
        op();
      } catch (err) {
        this.failed = err;
      }
    }
    return this.failed === undefined;
  }

  /** Writes the header and starts taking events (the probes are attached; events wait in the ring). */
  start(header: CaptureHeader): void {
    this.write(() => this.writer.begin(header));
    this.src.start((e: RawEvent) => {
      if (e.kind === 'group_ref') for (const a of e.stack.slice(0, e.nr_frames)) if (a) this.addresses.add(a);
      if (e.kind === 'dirty' && e.fn) this.addresses.add(e.fn);
      this.write(() => this.writer.add(e));
    });
  }

  /** Probes attached or detached (their module loaded or unloaded): a snapshot with them as they are now. */
  probesChanged(changes: ProbeChange[]): boolean {
    const src = this.src;
    const names = new Set(changes.map((c) => c.probe));
    return this.write(() =>
      this.writer.snapshot({
        tsNs: src.now(),
        hist: [],
        counters: [{ name: 'ringbuf_lost', value: src.lost() }],
        probeStats: [],
        probes: src.planned.filter((p) => names.has(p.name)).map(probeRecord),
      }),
    );
  }

  /** What is buffered goes to the file, with the facts of the processes seen since. */
  flush(): boolean {
    return this.write(() => (this.writer.processes(this.src.processes.take(), this.src.processes.overflow), this.writer.flush()));
  }

  /** Stops the source and closes the capture; returns the lost count, or undefined when a write failed (then abandoned). */
  stop(reason: string): number | undefined {
    const src = this.src;
    const lost = src.stop();
    const finished = this.write(() => {
      this.writer.processes(src.processes.take(), src.processes.overflow);
      this.writer.symbols(new Map([...this.addresses].map((a) => [a, src.symbolize(a)])));
      this.writer.close({ endNs: src.now(), lost, stopReason: reason });
    });
    if (finished) return lost;
    this.writer.abandon();
    return undefined;
  }
}
