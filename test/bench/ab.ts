/**
 * Two builds compared on one figure, alternately (A, B, A, B, ...), by CPU time:
 * this VM's timings move run to run, and only alternating runs compared by their
 * medians tell builds apart. B is this tree; A another checkout of the project,
 * built (its dist/, build/ and node_modules/), e.g. a `git worktree` at an older
 * commit. Each run is a child process that loads the figure's code from its tree.
 *
 *   node dist/test/bench/ab.js A_TREE FIGURE [RUNS]
 *
 * FIGURE: `decode` (pipeline.decode_aggregate: decode + aggregate of DMA records),
 * `model` (a replay at full speed into iommutop's model, ns per event), `top`
 * (top.cpu_percent) or `agent` (agent.cpu_percent at 10k/100k/1M events/s).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers';
import { dmaRecords } from './synthetic';

type Loader = (p: string) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A figure measured in the tree whose dist/ `d` loads from; one number, lower or higher as named. */
const FIGURES: Record<string, (d: Loader) => Promise<{ value: number; unit: string }>> = {
  async decode(d) {
    // The other build's decoder (its object's layouts) and aggregator; the records from this tree's builder.
    const { decoder } = d('test/bench/synthetic');
    const { Aggregator } = d('src/aggregate/engine');
    const n = 4096;
    const { buf, stride, length } = dmaRecords(decoder, n);
    const agg = new Aggregator({ attached: new Set(['iommu.map']), symbolize: (a: bigint) => a.toString(16), leakAgeNs: 0 });
    const c0 = process.cpuUsage();
    for (let r = 0; r < 200; r++) for (let i = 0; i < n; i++) agg.add(decoder.decode(buf, i * stride, length));
    const c = process.cpuUsage(c0);
    return { value: (200 * n) / ((c.user + c.system) / 1e6) / 1e6, unit: 'M events/s of CPU' };
  },
  async model(d) {
    const file = path.join(ROOT, 'build', 'ab-model.iotrace');
    if (!fs.existsSync(file)) {
      const { vfioLike, writeCapture } = d('test/bench/synthetic');
      writeCapture(file, ['iommu.attach_dev', 'iommu.map', 'iommu.unmap', 'vfio.pin', 'vfio.unpin', 'iommu.group_get', 'iommu.group_put'], vfioLike(2_000_000));
    }
    const src = new (d('src/source/replay').ReplaySource)(file, { speed: 0 });
    const model = new (d('src/tui/model').Model)(src, 30e9);
    const c0 = process.cpuUsage();
    // 0.4.3 starts the model's pipeline; before, the source was started with the model as its sink.
    await new Promise((resolve) => (model.start ? model.start(resolve) : src.start((e: unknown) => model.add(e), resolve, model)));
    model.view({ paused: false, ended: true, cpuPct: 0 });
    const c = process.cpuUsage(c0);
    return { value: ((c.user + c.system) * 1000) / src.events, unit: 'ns of CPU per event' };
  },
  async top(d) {
    const r = await d('test/bench/top-cpu').topCpuPercent();
    return { value: r.value, unit: '% of a core' };
  },
  async agent(d) {
    d('test/bench/measure').buildHelpers();
    const rates: { rate: number; export: { median: number } }[] = await d('test/bench/agent-cpu').agentCpu();
    return { value: Math.max(...rates.map((r) => r.export.median)), unit: '% of a core, the highest of 10k/100k/1M' };
  },
};

async function child(tree: string, figure: string): Promise<void> {
  const d: Loader = (p) => require(path.join(tree, 'dist', p)); // eslint-disable-line @typescript-eslint/no-require-imports
  process.stdout.write(JSON.stringify(await FIGURES[figure](d)) + '\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function main(): void {
  const [a, figure, runsArg] = process.argv.slice(2);
  if (a === '--child') return void child(figure, runsArg).catch((err) => ((process.exitCode = 1), console.error(err)));
  if (!a || !FIGURES[figure]) throw new Error(`usage: ab.js A_TREE ${Object.keys(FIGURES).join('|')} [RUNS]`);
  const trees = { A: path.resolve(a), B: ROOT };
  for (const t of Object.values(trees)) if (!fs.existsSync(path.join(t, 'dist'))) throw new Error(`${t} has no dist/: build it first`);
  const runs = Number(runsArg ?? 3);
  const got: Record<'A' | 'B', number[]> = { A: [], B: [] };
  let unit = '';
  for (let i = 0; i < runs; i++) {
    for (const side of ['A', 'B'] as const) {
      const out = execFileSync(process.execPath, [__filename, '--child', trees[side], figure], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { value: number; unit: string };
      got[side].push(r.value);
      unit = r.unit;
      console.log(`${side} run ${i + 1}: ${r.value.toFixed(2)} ${unit}`);
    }
  }
  const [ma, mb] = [median(got.A), median(got.B)];
  console.log(`${figure}: A (${trees.A}) ${ma.toFixed(2)}, B (${trees.B}) ${mb.toFixed(2)} ${unit}; B/A ${(mb / ma).toFixed(3)}`);
}

try {
  main();
} catch (err) {
  console.error(`ab: ${(err as Error).message}`);
  process.exitCode = 1;
}
