import * as fs from 'node:fs';
import * as os from 'node:os';
import { Flags } from '@oclif/core';
import { liveHeader } from '../capture/header';
import { CaptureEvent, CaptureWriter } from '../capture/writer';
import { BaseCommand, UserError } from '../command';
import { RawEvent } from '../events/types';
import { privilegeProblem } from '../probes/privileges';
import { LiveSource } from '../source/live';
import { formatBytes, parseDuration } from '../util/duration';

/** How often buffered events reach the file at the latest. */
const FLUSH_MS = 1000;

function defaultName(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `iommutrace-${os.hostname()}-${t}.iotrace`;
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.message.split(':')[0]} (${e.code})` : String(e.message ?? err);
}

export default class Record extends BaseCommand {
  static override summary = 'Capture events into a protobuf file, until a duration or a signal.';
  static override description = `Attaches every probe this kernel supports and writes each event into a capture
(default iommutrace-<host>-<UTC time>.iotrace). Stops after --duration or on SIGINT/SIGTERM;
either way the file is complete. The file is written in chunks, so even a killed
recording reads up to its last chunk. Open it anywhere with \`iommutrace report\`.`;

  static override flags = {
    output: Flags.string({ char: 'o', description: 'capture file to write' }),
    duration: Flags.string({ char: 'd', description: 'stop after this long (e.g. 10s, 2m)' }),
    probes: Flags.string({ description: 'comma-separated logical probes to attach (default: all)' }),
    'leak-age': Flags.string({ description: 'references held longer than this are reported as held or leaked', default: '30s' }),
    force: Flags.boolean({ description: 'overwrite an existing file', default: false }),
    'ring-size': Flags.string({ description: 'ring buffer size in MiB (a power of two)', default: '16' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Record);
    const durationNs = flags.duration ? parseDuration(flags.duration) : undefined;
    const leakAgeNs = parseDuration(flags['leak-age']);
    const ringMiB = Number(flags['ring-size']);
    if (!Number.isInteger(ringMiB) || ringMiB < 1 || (ringMiB & (ringMiB - 1)) !== 0) {
      throw new UserError(`--ring-size must be a power of two in MiB, not ${flags['ring-size']}`);
    }
    const output = flags.output ?? defaultName();
    // Refuse before attaching anything: an existing file is never touched without --force.
    if (!flags.force && fs.existsSync(output)) throw new UserError(`${output} exists; use --force to overwrite it`);
    const problem = privilegeProblem();
    if (problem) throw new UserError(problem);
    const wanted = flags.probes ? new Set(flags.probes.split(',').map((s) => s.trim())) : undefined;

    const src = await LiveSource.open({
      recordAll: true,
      ringBytes: ringMiB << 20,
      select: wanted ? (n) => wanted.has(n) : undefined,
    });
    if (wanted) {
      const known = new Set(src.probes.map((p) => p.name));
      const unknown = [...wanted].filter((n) => !known.has(n));
      if (unknown.length) {
        src.stop();
        throw new UserError(`unknown probe ${unknown.join(', ')} (see iommutrace doctor)`);
      }
    }
    let w: CaptureWriter;
    try {
      w = new CaptureWriter(output, liveHeader(src, leakAgeNs, process.argv.slice(2)), { force: flags.force });
    } catch (err) {
      src.stop();
      throw new UserError(`cannot create ${output}: ${describe(err)}`);
    }

    // Every write goes through here: the first failure stops writing and ends the recording.
    let writeError: unknown;
    const write = (op: () => void): boolean => {
      if (writeError === undefined) {
        try {
          op();
        } catch (err) {
          writeError = err;
        }
      }
      return writeError === undefined;
    };
    // Stack and callback addresses, symbolized on this host at the end.
    const addresses = new Set<bigint>();
    src.start((e: RawEvent) => {
      if (e.kind === 'group_ref') for (const a of e.stack.slice(0, e.nr_frames)) if (a) addresses.add(a);
      if (e.kind === 'dirty' && e.fn) addresses.add(e.fn);
      write(() => w.add(e as unknown as CaptureEvent));
    });
    process.stderr.write(
      `recording to ${output}: ${src.attached.size} of ${src.probes.length} probes attached${durationNs ? `, for ${flags.duration}` : ''}; Ctrl-C stops\n`,
    );

    const reason = await this.waitForStop(src, w, durationNs, () => write(() => w.flush()));
    const lost = src.stop();
    const finished = write(() => {
      w.symbols(new Map([...addresses].map((a) => [a, src.symbolize(a)])));
      w.close({ endNs: src.now(), lost, stopReason: reason });
    });
    if (!finished) {
      w.abandon();
      throw new UserError(`cannot write ${output}: ${describe(writeError)}; the capture is readable up to its last whole chunk`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    const perEvent = w.events ? (w.bytes / w.events).toFixed(1) : '-';
    this.log(`wrote ${output}: ${w.events} events, ${lost} lost, ${formatBytes(w.bytes)} (${perEvent} bytes/event), stopped by ${reason}`);
  }

  /** Resolves with why recording stopped: the duration, a signal, or a write error. */
  private waitForStop(src: LiveSource, writer: CaptureWriter, durationNs: number | undefined, flush: () => boolean): Promise<string> {
    return new Promise((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      const finish = (reason: string): void => {
        for (const t of timers) clearInterval(t);
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve(reason);
      };
      const onInt = (): void => finish('SIGINT');
      const onTerm = (): void => finish('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      if (durationNs !== undefined) timers.push(setTimeout(() => finish('duration'), durationNs / 1e6));
      timers.push(
        setInterval(() => {
          if (!flush()) finish('error');
        }, FLUSH_MS),
      );
      if (process.stderr.isTTY) {
        timers.push(
          setInterval(() => {
            const secs = (src.now() / 1e9).toFixed(1);
            process.stderr.write(`\r${secs}s  events ${src.events}  lost ${src.lost()}  ${formatBytes(writer.bytes)}   `);
          }, 250),
        );
      }
    });
  }
}
