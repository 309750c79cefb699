import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import { CaptureError } from '../capture/reader';
import { BaseCommand, UserError } from '../command';
import { buildReport } from '../report/build';
import { printableJson } from '../report/table';
import { renderReport } from '../report/text';
import { HtmlTargetError, checkTarget, writeHtmlReport } from '../report/html/write';
import { parseDuration } from '../util/duration';

function monotonic(value: string | undefined, flag: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UserError(`${flag} takes nanoseconds of CLOCK_MONOTONIC, not "${value}"`);
  return BigInt(value);
}

export default class ReportCommand extends BaseCommand {
  static override summary = 'Summarize a capture: probes, latencies, DMA, attaches, GUP, dirty walks, group references.';
  static override description = `Reads a capture written by \`iommutrace record\` (from any machine; no privileges
needed) and prints aligned tables, or the iommutrace-report/1 JSON object with --json.
A cut or damaged file is reported up to what could be read, and says so.
--html FILE writes it as one web page that needs no network to open.`;

  static override args = {
    file: Args.string({ description: 'capture file', required: true }),
  };

  static override flags = {
    json: Flags.boolean({ description: 'print the iommutrace-report/1 JSON object', default: false }),
    'leak-age': Flags.string({ description: 'override the leak age the capture was recorded with' }),
    pid: Flags.integer({ description: 'only the events of this process' }),
    'since-ns': Flags.string({ description: 'only events from this CLOCK_MONOTONIC time on (ns, as bpf_ktime_get_ns and perf)' }),
    'until-ns': Flags.string({ description: 'only events up to this CLOCK_MONOTONIC time (ns)' }),
    html: Flags.string({ description: 'write the capture as one self-contained HTML page (timeline, latency, mapping shape, group references, tables) to FILE instead of the tables', helpValue: 'FILE' }),
    force: Flags.boolean({ description: 'with --html: overwrite an existing FILE', default: false }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ReportCommand);
    let report;
    const options = {
      leakAgeNs: flags['leak-age'] ? parseDuration(flags['leak-age']) : undefined,
      pid: flags.pid,
      sinceNs: monotonic(flags['since-ns'], '--since-ns'),
      untilNs: monotonic(flags['until-ns'], '--until-ns'),
    };
    if (flags.force && !flags.html) throw new UserError('--force only applies to --html FILE');
    try {
      if (flags.html) {
        // Refused before the capture is read: an existing file is never touched without --force.
        checkTarget(args.file, flags.html, flags.force);
        const html = writeHtmlReport(args.file, flags.html, { ...options, force: flags.force });
        report = html.report;
        process.stderr.write(`wrote ${flags.html} (${(html.bytes / 1024).toFixed(0)} KiB)\n`);
      } else report = buildReport(args.file, options);
    } catch (err) {
      if (err instanceof CaptureError) throw new UserError(`${args.file}: ${err.message}`, err.damaged ? 2 : 1);
      if (err instanceof HtmlTargetError) throw new UserError(err.message);
      throw err;
    }
    if (flags.json) this.log(printableJson(report));
    else if (!flags.html) this.log(renderReport(report));
    if (report.capture.damage) process.exitCode = 2;
  }
}
