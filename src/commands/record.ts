import * as fs from 'node:fs';
import * as os from 'node:os';
import * as Flags from '@oclif/core/flags';
import { kernelBtfFingerprint, liveHeader } from '../capture/header';
import { Recorder } from '../capture/recorder';
import { CaptureWriter } from '../capture/writer';
import { BaseCommand, describeError, UserError } from '../command';
import { privilegeProblem } from '../probes/privileges';
import { HOLD_MODULES_FLAG, liveSelection, PROBES_FLAG } from '../probes/select';
import { LiveSource } from '../source/live';
import { describeProbeChanges } from '../source/probe-changes';
import type { ProbeChange } from '../source/source';
import { formatBytes, parseDuration } from '../util/duration';

/** How often buffered events reach the file at the latest. */
const FLUSH_MS = 1000;

function defaultName(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `iommutrace-${os.hostname()}-${t}.iotrace`;
}

/** One line per reason on stderr: which probes attached or detached and why. */
function sayChanged(changes: ProbeChange[]): void {
  for (const { change, text } of describeProbeChanges(changes)) {
    const rest = change === 'detached' ? 'the other probes keep recording' : 'recording them too';
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}iommutrace: ${text}; ${rest}\n`);
  }
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
    probes: Flags.string({ description: PROBES_FLAG }),
    'hold-modules': Flags.boolean({ description: HOLD_MODULES_FLAG, default: false }),
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
    // An unknown name or mode is refused here, in one line, before anything attaches.
    const selection = liveSelection(flags.probes);
    const problem = privilegeProblem();
    if (problem) throw new UserError(problem);

    // The BTF fingerprint the header names, hashed while the kernel verifies the programs.
    const btf = kernelBtfFingerprint();
    const src = await LiveSource.open({
      recordAll: true,
      ringBytes: ringMiB << 20,
      holdModules: flags['hold-modules'],
      ...selection,
    });
    let w: CaptureWriter;
    try {
      w = new CaptureWriter(output, undefined, { force: flags.force });
    } catch (err) {
      src.stop();
      throw new UserError(`cannot create ${output}: ${describeError(err)}`);
    }
    const header = liveHeader(src, leakAgeNs, process.argv.slice(2), await btf);
    const rec = new Recorder(src, w);
    // A module loaded or unloaded under the probes: say so; the capture gets a snapshot.
    src.onProbeChange((changes) => {
      sayChanged(changes);
      rec.probesChanged(changes);
    });
    // The signal handlers go in before the line that says we are recording: a SIGINT
    // sent as soon as it appears must stop the recording, not kill the process.
    const stopped = this.waitForStop(src, w, durationNs, () => rec.flush());
    process.stderr.write(
      `recording to ${output}: ${src.attached.size} of ${src.probes.length} probes attached${durationNs ? `, for ${flags.duration}` : ''}; Ctrl-C stops\n`,
    );
    // The header after the line, in the same turn: the probes are attached and their
    // events wait in the ring, so encoding it (protobufjs's schema parsed and its coders
    // generated, 20-30 ms) need not hold back the moment recording starts.
    rec.start(header);
    const reason = await stopped;
    const lost = rec.stop(reason);
    if (lost === undefined) {
      throw new UserError(`cannot write ${output}: ${describeError(rec.failed)}; the capture is readable up to its last whole chunk`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    const perEvent = w.events ? (w.bytes / w.events).toFixed(1) : '-';
    const during = (change: ProbeChange['change']): string[] => src.probeChanges.filter((c) => c.change === change).map((c) => c.probe);
    const detached =
      (during('attached').length ? `; attached during the recording: ${during('attached').join(', ')}` : '') +
      (during('detached').length ? `; detached during the recording: ${during('detached').join(', ')}` : '');
    this.log(`wrote ${output}: ${w.events} events, ${lost} lost, ${formatBytes(w.bytes)} (${perEvent} bytes/event), stopped by ${reason}${detached}`);
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
