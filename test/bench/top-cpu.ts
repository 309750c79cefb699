/**
 * top.cpu_percent: the CPU iommutop itself uses (user + system, of one core)
 * while it replays a synthetic VFIO-like capture at a steady 100,000 events/s
 * in a real terminal (a 160x48 tmux pane, the default full screen, redrawn every
 * second), measured from its threads' schedstat (proc-cpu.ts) over `seconds` after a warm-up.
 *
 * The reference is what reading the same events one at a time costs: the CPU
 * `iommutrace report` needs to read, decode and aggregate the same capture (its
 * start-up, measured on a one-event capture, taken off), scaled to the same
 * 100,000 events/s, in percent of one core. iommutop sums the calls in runs as
 * it plays them (ReplaySums), so it can come in under it. The note adds the same
 * replay fed to the dashboard's model without a screen (`headless`): what is
 * left of top.cpu_percent above it is the drawing.
 *
 *   node dist/test/bench/top-cpu.js [SECONDS] [RATE]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaptureEvent } from '../../src/capture/writer';
import { ReplaySource, replayTickMs } from '../../src/source/replay';
import { Model } from '../../src/tui/model';
import { Pane } from '../tui/tmux';
import { CLI, ROOT } from '../helpers';
import { childrenCpuSeconds, cpuPercentOver } from './proc-cpu';
import { spread } from './prog-stats';
import { vfioLike, writeCapture } from './synthetic';

export interface TopCpuResult {
  name: 'top.cpu_percent';
  value: number;
  unit: '%';
  reference: { name: string; value: number };
  goal: string;
  note: string;
  /** The window split in four: the value is their median. */
  spread: { runs: number; min: number; max: number };
}

/** CPU seconds of `node CLI args` (through a shell's cutime/cstime, so the child's whole life counts). */
function childCpuSeconds(args: string[]): number {
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" ${quoted} >/dev/null || exit 1; cat /proc/$$/stat`], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`iommutrace ${args.join(' ')} failed: ${r.stderr}`);
  return childrenCpuSeconds(r.stdout);
}

/** Writes the capture and returns its event rate in capture time (events per second). */
function synthesize(file: string, events: number): number {
  let first = -1;
  let last = 0;
  function* timed(): Generator<CaptureEvent> {
    for (const e of vfioLike(events)) {
      if (first < 0) first = e.ts_ns;
      last = e.ts_ns;
      yield e;
    }
  }
  writeCapture(file, ['iommu.map', 'iommu.unmap'], timed());
  return ((events - 1) * 1e9) / (last - first);
}

/** The measurement window is cut in this many, for a median and a spread. */
const WINDOWS = 4;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * In this process: the replay at `speed` into the dashboard's Model, played as
 * iommutop plays it (its tick, a flush before each view) and viewed once a
 * second, no screen. Returns the CPU in percent of one core over `seconds` after `warmup`.
 */
async function headless(file: string, speed: number, seconds: number, warmup: number): Promise<number> {
  const src = new ReplaySource(file, { speed, tickMs: replayTickMs(1000) });
  const model = new Model(src, 30e9);
  let ended = false;
  model.start(() => (ended = true));
  const timer = setInterval(() => {
    src.flush();
    model.view({ paused: false, ended, cpuPct: 0 });
  }, 1000);
  try {
    await sleep(warmup * 1000);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const c = process.cpuUsage(c0);
    if (ended) throw new Error('the replay ended inside the measurement window');
    return (100 * (c.user + c.system)) / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    clearInterval(timer);
    src.stop();
  }
}

/**
 * Runs the benchmark: `rate` events/s for `seconds` (after a `warmup` of seconds
 * that is not counted). Needs tmux; any user.
 */
export async function topCpuPercent(opts: { rate?: number; seconds?: number; warmup?: number } = {}): Promise<TopCpuResult> {
  const rate = opts.rate ?? 100_000;
  const seconds = opts.seconds ?? 20;
  const warmup = opts.warmup ?? 4;
  if (!Pane.available()) throw new Error('top.cpu_percent needs tmux');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutop-cpu-'));
  try {
    const file = path.join(tmp, 'vfio-like.iotrace');
    // Enough events for the warm-up, the window and some slack: the replay must not end inside it.
    const events = Math.ceil(rate * (warmup + seconds + 6));
    const captureRate = synthesize(file, events);
    const speed = Number((rate / captureRate).toPrecision(6));

    const pane = Pane.start(160, 48, ROOT);
    let value: number;
    let range: TopCpuResult['spread'];
    let shown: string;
    try {
      pane.run(`node ${CLI} top --replay ${file} --speed ${speed}; echo EXIT=$?`);
      await pane.waitFor((s) => s.includes('Devices') && s.includes('ev/s'), 120_000, 'the dashboard');
      const shell = pane.shellPid();
      const pid = Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0]);
      if (!(pid > 0)) throw new Error('no iommutop process under the pane');
      await sleep(warmup * 1000);
      const windows: number[] = [];
      for (let i = 0; i < WINDOWS; i++) windows.push(await cpuPercentOver(pid, seconds / WINDOWS));
      const s = spread(windows);
      value = s.median;
      range = { runs: WINDOWS, min: s.min, max: s.max };
      shown = /([\d.]+[kM]?) ev\/s/.exec(pane.text())?.[1] ?? '?';
      if (pane.text().includes('replay ended')) throw new Error('the replay ended inside the measurement window');
      pane.keys('q');
      await pane.waitFor((s) => /^EXIT=\d+/m.test(s), 30_000, 'iommutop to exit');
    } finally {
      pane.kill();
    }

    // The reference: report over the same capture, its start-up (a one-event capture) taken off.
    const tiny = path.join(tmp, 'one.iotrace');
    writeCapture(tiny, ['iommu.map', 'iommu.unmap'], vfioLike(1));
    const base = childCpuSeconds(['report', tiny, '--json']);
    const full = childCpuSeconds(['report', file, '--json']);
    const reference = (100 * Math.max(0, full - base) * rate) / events;
    // The same replay and model without the screen, in a process of its own.
    const bare = execFileSync(process.execPath, [__filename, '--headless', file, String(speed), String(seconds), String(warmup)], { encoding: 'utf8' }).trim();

    return {
      name: 'top.cpu_percent',
      value,
      spread: range,
      unit: '%',
      reference: { name: `iommutrace report, decode + aggregate of the same events one by one at ${rate / 1000}k/s (% of one core)`, value: reference },
      goal: '<= 5% of one core',
      note:
        `iommutop replaying ${events} synthetic VFIO-like events at ${rate} events/s (--speed ${speed.toPrecision(4)}; the header shows ${shown} ev/s, the capture's own pace) ` +
        `in a 160x48 tmux pane, on-CPU time of its threads (schedstat), median of ${WINDOWS} windows over ${seconds} s after ${warmup} s of warm-up; ` +
        `the same replay into the dashboard's model without a screen: ${Number(bare).toFixed(2)}%`,
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module && process.argv[2] === '--headless') {
  const [file, speed, seconds, warmup] = process.argv.slice(3);
  headless(file, Number(speed), Number(seconds), Number(warmup)).then(
    (pct) => console.log(pct.toFixed(3)),
    (err) => {
      console.error(`top-cpu --headless: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
} else if (require.main === module) {
  const [seconds, rate] = process.argv.slice(2).map(Number);
  topCpuPercent({ seconds: seconds || undefined, rate: rate || undefined }).then(
    (r) => console.log(`${r.name}: ${r.value.toFixed(2)} ${r.unit} (${r.spread.min.toFixed(2)}-${r.spread.max.toFixed(2)}; reference ${r.reference.name}: ${r.reference.value.toFixed(2)} %)\n  ${r.note}`),
    (err) => {
      console.error(`top-cpu: ${(err as Error).message}`);
      process.exitCode = 1;
    },
  );
}
