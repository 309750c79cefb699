import * as Flags from '@oclif/core/flags';
import { CaptureError } from '../capture/reader';
import { BaseCommand, UserError } from '../command';
import { HOLD_MODULES_FLAG, liveSelection, PROBES_FLAG } from '../probes/select';
import { privilegeProblem } from '../probes/privileges';
import { LiveSource } from '../source/live';
import { ReplaySource, replayTickMs } from '../source/replay';
import { EventSource } from '../source/source';
import { Dashboard } from '../tui/app';
import { DEFAULT_LAYOUT, Layout, LayoutError, loadLayout } from '../tui/layout';
import { parseDuration } from '../util/duration';

export default class Top extends BaseCommand {
  static override summary = 'The live dashboard (also `iommutop`): devices, latencies, rates, GUP, group references, dirty walks.';
  static override description = `Attaches every probe this kernel supports (needs root, or CAP_BPF + CAP_PERFMON +
CAP_SYS_RESOURCE) and shows what it sees, redrawn every --interval. With --replay it plays a
capture instead, at --speed (1 = recorded pace, 0 = as fast as possible), as any user.
The panels and where they sit come from a layout file (--layout; default dashboards/iommutop.json).
--probes attaches only the probes listed (as record's --probes). Keys: q quit, p pause,
s/S sort, / filter, tab focus, enter details, r reset, u probes, ? help.`;

  static override examples = [
    '<%= config.bin %> top',
    '<%= config.bin %> top --replay lab.iotrace --speed 10',
    '<%= config.bin %> top --interval 500ms --layout my-layout.json',
    '<%= config.bin %> top --probes iommu.map,iommu.unmap,gup.fast',
  ];

  static override flags = {
    replay: Flags.string({ description: 'play this capture instead of tracing the kernel' }),
    speed: Flags.string({ description: 'replay speed: 1 is the recorded pace, 10 ten times faster, 0 as fast as possible', default: '1' }),
    interval: Flags.string({ description: 'redraw every (e.g. 500ms, 2s)', default: '1s' }),
    layout: Flags.string({ description: 'dashboard layout file', default: DEFAULT_LAYOUT, defaultHelp: async () => 'dashboards/iommutop.json' }),
    probes: Flags.string({ description: PROBES_FLAG }),
    'hold-modules': Flags.boolean({ description: HOLD_MODULES_FLAG, default: false }),
    'every-event': Flags.boolean({ description: 'live: send every event through the ring buffer, as record does, instead of summing counts and latencies in the kernel', default: false }),
    'leak-age': Flags.string({ description: 'references held longer than this are shown as held or leaked (default: the capture\'s, or 30s live)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Top);
    const intervalNs = parseDuration(flags.interval);
    if (intervalNs < 100e6) throw new UserError(`--interval must be at least 100ms, not ${flags.interval}`);
    const speed = Number(flags.speed);
    if (!Number.isFinite(speed) || speed < 0) throw new UserError(`--speed must be a number >= 0, not ${flags.speed}`);
    let layout: Layout;
    try {
      layout = loadLayout(flags.layout);
    } catch (err) {
      if (err instanceof LayoutError) throw new UserError(err.message);
      throw err;
    }
    const leakAge = flags['leak-age'] ? parseDuration(flags['leak-age']) : undefined;
    // As record takes it: these probes only (opt-in ones such as selftest.getppid included), checked before anything attaches.
    if (flags.probes !== undefined && flags.replay) throw new UserError('--probes picks what to attach live; a replay shows what its capture recorded');
    // An unknown name or mode is refused here, in one line, before anything attaches.
    const selection = liveSelection(flags.probes);
    const problem = flags.replay ? undefined : privilegeProblem();
    if (problem) throw new UserError(problem);

    let src: EventSource;
    let leakAgeNs: number;
    if (flags.replay) {
      let replay: ReplaySource;
      try {
        replay = new ReplaySource(flags.replay, { speed, tickMs: replayTickMs(intervalNs / 1e6) });
      } catch (err) {
        if (err instanceof CaptureError) throw new UserError(`${flags.replay}: ${err.message}`, err.damaged ? 2 : 1);
        throw err;
      }
      src = replay;
      leakAgeNs = leakAge ?? replay.contents.header.leakAgeNs;
    } else {
      src = await LiveSource.open({ recordAll: flags['every-event'], holdModules: flags['hold-modules'], ...selection });
      leakAgeNs = leakAge ?? 30e9;
    }
    if (!process.stdout.isTTY || !process.stdin.isTTY) {
      src.stop();
      throw new UserError('iommutop needs a terminal (for a summary without one: iommutrace report, or record)');
    }
    await new Dashboard(src, { layout, intervalMs: intervalNs / 1e6, leakAgeNs }).run();
  }
}
