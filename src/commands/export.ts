import { writeFileSync } from 'node:fs';
import * as Flags from '@oclif/core/flags';
import { CaptureError } from '../capture/reader';
import { BaseCommand, describeError, UserError } from '../command';
import { ExportAgent } from '../export/agent';
import { liveProgStats } from '../export/bpf-stats';
import { privilegeProblem } from '../probes/privileges';
import { HOLD_MODULES_FLAG, liveSelection, PROBES_FLAG } from '../probes/select';
import { describeProbeChanges } from '../source/probe-changes';
import { LiveSource } from '../source/live';
import { ReplaySource } from '../source/replay';
import { EventSource } from '../source/source';
import { parseDuration } from '../util/duration';

/** Longest a stop may take (the push targets get 3 s of it). */
const STOP_DEADLINE_MS = 5000;

/** "HOST:PORT" or "[V6]:PORT" -> parts; one-line error otherwise. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UserError(`--listen takes HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464), not "${text}"`);
  return { host: m[1] ?? m[2], port };
}

function parseUrl(flag: string, text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UserError(`${flag} takes an http(s) URL, not "${text}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`${flag} takes an http(s) URL, not "${text}"`);
  return u.toString();
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new UserError(`--${flag}: ${(err as Error).message}`);
  }
}

/** The agent's source: a capture played back, or the kernel (probes attached, or one clear line why not). */
async function openSource(flags: { replay?: string; probes?: string; 'every-event': boolean; 'check-aggregation': boolean; 'hold-modules': boolean }, speed: number): Promise<{ source: EventSource; bpfStats?: () => ReturnType<typeof liveProgStats> }> {
  if (flags.replay) {
    if (flags.probes !== undefined) throw new UserError('--probes picks what to attach live; a replay exports what its capture recorded');
    try {
      return { source: new ReplaySource(flags.replay, { speed }) };
    } catch (err) {
      if (err instanceof CaptureError || (err as NodeJS.ErrnoException).code) throw new UserError(`${flags.replay}: ${describeError(err)}`, err instanceof CaptureError && err.damaged ? 2 : 1);
      throw err;
    }
  }
  // An unknown name or mode is refused here, in one line, before anything attaches.
  const selection = liveSelection(flags.probes);
  const problem = privilegeProblem();
  if (problem) throw new UserError(problem);
  const live = await LiveSource.open({ recordAll: flags['every-event'], checkAggregation: flags['check-aggregation'], holdModules: flags['hold-modules'], ...selection });
  return { source: live, bpfStats: () => liveProgStats(live) };
}

export default class Export extends BaseCommand {
  static override summary = 'Export metrics: a Prometheus scrape endpoint, Prometheus remote write, OTLP/HTTP.';
  static override description = `Runs as an agent on the kernel (or on a replayed capture) and exports the same
metrics three ways, in any combination: a Prometheus scrape endpoint (default
127.0.0.1:9464; all interfaces only when asked, e.g. --listen 0.0.0.0:9464),
Prometheus remote write (protobuf + snappy) and OTLP/HTTP protobuf. A push target
that is down or slow never stops the agent: pushes are retried with backoff from a
bounded queue, and failures and dropped samples are exported as metrics.`;

  static override examples = [
    '<%= config.bin %> export',
    '<%= config.bin %> export --remote-write http://mimir:9009/api/v1/push --interval 30s',
    '<%= config.bin %> export --otlp http://collector:4318/v1/metrics --listen off',
    '<%= config.bin %> export --replay lab.iotrace --speed 0',
  ];

  static override flags = {
    listen: Flags.string({ description: 'scrape endpoint HOST:PORT, or "off"', default: '127.0.0.1:9464' }),
    'remote-write': Flags.string({ description: 'Prometheus remote-write URL (e.g. http://host:9090/api/v1/write)' }),
    otlp: Flags.string({ description: 'OTLP/HTTP metrics URL (e.g. http://host:4318/v1/metrics)' }),
    interval: Flags.string({ description: 'how often to push to remote write and OTLP', default: '15s' }),
    replay: Flags.string({ description: 'play a capture instead of the kernel' }),
    probes: Flags.string({ description: PROBES_FLAG }),
    'hold-modules': Flags.boolean({ description: HOLD_MODULES_FLAG, default: false }),
    speed: Flags.string({ description: 'replay speed: 1 as recorded, 10 ten times faster, 0 as fast as possible', default: '1' }),
    'leak-age': Flags.string({ description: 'references held longer than this count as held or leaked (default: 30s, or the capture\'s)' }),
    timeout: Flags.string({ description: 'give up on one push request after this long', default: '10s' }),
    'vm-label': Flags.boolean({ description: 'also export per-VM series labelled vm=NAME (one series per VM: off by default)', default: false }),
    'every-event': Flags.boolean({ description: 'live: send every event through the ring buffer, as record does, instead of summing counts and latencies in the kernel', default: false }),
    'check-aggregation': Flags.boolean({ description: 'live, for tests: also send the calls summed in the kernel through the ring buffer and keep their per-event state beside; --dump then holds both', default: false, hidden: true }),
    dump: Flags.string({ description: 'when stopping, write the exported state, unrounded, as JSON to this file' }),
    'max-queue-samples': Flags.integer({ description: 'samples each push target may keep waiting; past it the oldest are dropped', default: 100_000, min: 1 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Export);
    const listen = flags.listen === 'off' ? undefined : parseListen(flags.listen);
    const remoteWrite = flags['remote-write'] ? parseUrl('--remote-write', flags['remote-write']) : undefined;
    const otlp = flags.otlp ? parseUrl('--otlp', flags.otlp) : undefined;
    if (!listen && !remoteWrite && !otlp) throw new UserError('nothing to export to: --listen is off and neither --remote-write nor --otlp is given');
    const intervalMs = duration('interval', flags.interval) / 1e6;
    const timeoutMs = duration('timeout', flags.timeout) / 1e6;
    if (intervalMs < 100) throw new UserError('--interval must be at least 100ms');
    const speed = Number(flags.speed);
    if (!Number.isFinite(speed) || speed < 0) throw new UserError(`--speed must be a number >= 0, not ${flags.speed}`);
    const leakAgeNs = flags['leak-age'] ? duration('leak-age', flags['leak-age']) : undefined;

    const { source, bpfStats } = await openSource(flags, speed);
    const captureLeakAge = source instanceof ReplaySource ? source.contents.header.leakAgeNs : undefined;
    const agent = new ExportAgent({
      source,
      leakAgeNs: leakAgeNs ?? captureLeakAge ?? 30e9,
      listen,
      remoteWrite,
      otlp,
      intervalMs,
      timeoutMs,
      maxQueueSamples: flags['max-queue-samples'],
      bpfStats,
      vmLabel: flags['vm-label'],
      checkAggregation: flags['check-aggregation'] && !flags.replay,
    });
    let address: string | undefined;
    try {
      address = await agent.start(() => process.stderr.write(`replay finished: ${source.events} events; still exporting, Ctrl-C stops\n`));
    } catch (err) {
      source.stop();
      throw new UserError(`cannot listen on ${flags.listen}: ${describeError(err)}`);
    }
    const targets = [address && `metrics on http://${address}/metrics`, remoteWrite && `remote write to ${remoteWrite}`, otlp && `OTLP to ${otlp}`].filter(Boolean);
    const attached = source.attached.size;
    process.stderr.write(`exporting ${source.kind === 'replay' ? `replay of ${flags.replay}` : 'live'} (${attached} of ${source.probes.length} probes attached): ${targets.join(', ')}\n`);
    // Modules loaded and unloaded while the agent runs: a line each in its log (the journal).
    source.onProbeChange?.((changes) => {
      for (const { text } of describeProbeChanges(changes)) process.stderr.write(`iommutrace: ${text}\n`);
    });
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    // A close that hangs (a stuck connection, a library's socket) must not keep the agent
    // from exiting: a deadline, and a second signal, end it anyway.
    setTimeout(() => {
      process.stderr.write('stopping took too long; exiting\n');
      process.exit();
    }, STOP_DEADLINE_MS).unref();
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
    await agent.stop();
    if (flags.dump) writeFileSync(flags.dump, JSON.stringify(agent.dump(), null, 1) + '\n');
    process.stderr.write(`stopped by ${signal}\n`);
  }
}
