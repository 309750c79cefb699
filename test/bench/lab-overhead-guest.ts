/**
 * The guest half of probe.lab_ns_per_call (lab-overhead.ts boots the guest and
 * runs this inside it, with the device on vfio-pci): per-call cost of our real
 * DMA-map, unmap and pin programs against bpftrace doing the same job, read from
 * the kernel's own run statistics. In each round every tool is attached at once
 * around the same VFIO workload, so all count the same calls; rounds rotate the
 * order they attach (and run) in. Prints one JSON line.
 *
 *   node lab-overhead-guest.js --bin DIR [--rounds 3] [--vfio-rounds 50] [--size-mib 2]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCaptureFile } from '../../src/capture/reader';
import { LAB_DEVICE } from '../../src/lab/workloads';
import { enableBpfStats, progRuns, progRunsSince, restoreBpfStats, setBpfStats, type ProgRun } from './prog-stats';

/** The functions both tools trace on Debian 6.1, by our probe names (entry and exit programs each). */
export const LAB_PROBES = ['iommu.map', 'iommu.unmap', 'vfio.pin', 'vfio.unpin', 'gup.pin_remote'];

/*
 * bpftrace's version of the job: a latency histogram per domain (per DMA mapping
 * for VFIO's pins, per process for GUP) of the same functions, through the same
 * attach mechanism ours gets on 6.1 with --hold-modules (fentry/fexit; kprobes for
 * the 7-argument pin_user_pages_remote, which the 6.1 trampoline refuses).
 */
const BPFTRACE = `
kfunc:iommu_map { @m[tid] = nsecs; }
kretfunc:iommu_map /@m[tid]/ { @map[args->domain] = hist(nsecs - @m[tid]); delete(@m[tid]); }
kfunc:__iommu_unmap { @u[tid] = nsecs; }
kretfunc:__iommu_unmap /@u[tid]/ { @unmap[args->domain] = hist(nsecs - @u[tid]); delete(@u[tid]); }
kfunc:vfio_iommu_type1:vfio_pin_pages_remote { @p[tid] = nsecs; }
kretfunc:vfio_iommu_type1:vfio_pin_pages_remote /@p[tid]/ { @pin[args->dma] = hist(nsecs - @p[tid]); delete(@p[tid]); }
kfunc:vfio_iommu_type1:vfio_unpin_pages_remote { @q[tid] = nsecs; }
kretfunc:vfio_iommu_type1:vfio_unpin_pages_remote /@q[tid]/ { @unpin[args->dma] = hist(nsecs - @q[tid]); delete(@q[tid]); }
kprobe:pin_user_pages_remote { @r[tid] = nsecs; }
kretprobe:pin_user_pages_remote /@r[tid]/ { @gup[pid] = hist(nsecs - @r[tid]); delete(@r[tid]); }
`;

/** The traced functions as bpftrace's entry and exit probes name them (fentry/fexit, and the kprobe pair on the 7-argument pin). */
const PAIRS: [string, string][] = [
  ...['iommu_map', '__iommu_unmap', 'vfio_iommu_type1:vfio_pin_pages_remote', 'vfio_iommu_type1:vfio_unpin_pages_remote'].map((f): [string, string] => [`kfunc:${f}`, `kretfunc:${f}`]),
  ['kprobe:pin_user_pages_remote', 'kretprobe:pin_user_pages_remote'],
];

/** One bpftrace program with the same entry and exit actions on every pair. */
const onEveryPair = (enter: string, exit: string): string => PAIRS.map(([a, b]) => `${a} { ${enter} } ${b} { ${exit} }`).join('\n');

/**
 * The floor and the steps up to a latency histogram, each on every pair: programs
 * that do nothing (what any observer pays: the trampoline or the kprobe trap);
 * reading the clock at entry and exit; and keeping the entry's time per thread
 * in a hash until the exit, the least a latency needs. What ours adds past the
 * last is its own: the domain's group, the sums and the histogram.
 */
const STEPS: Tool[] = [
  { name: 'empty', argv: ['bpftrace', '-e', onEveryPair('', '')], ready: /Attaching \d+ probes/ },
  { name: 'clock', argv: ['bpftrace', '-e', onEveryPair('$t = nsecs;', '$t = nsecs;')], ready: /Attaching \d+ probes/ },
  { name: 'entry time', argv: ['bpftrace', '-e', onEveryPair('@s[tid] = nsecs;', '$d = nsecs - @s[tid]; delete(@s[tid]);')], ready: /Attaching \d+ probes/ },
];

/** fdinfo's prog_type numbers (enum bpf_prog_type). */
const PROG_TYPE_KPROBE = '2';
const PROG_TYPE_TRACING = '26';

interface Tool {
  name: string;
  argv: string[];
  ready: RegExp;
  env?: NodeJS.ProcessEnv;
  /** Where a `record` writes, one file per tool (they run at once). */
  capture?: string;
}

export interface GuestRun {
  tool: string;
  round: number;
  /** Program runs during the workload (entry and exit each count). */
  runs: ProgRun;
  /**
   * Nanoseconds of BPF per traced call of the fentry/fexit functions (map, unmap,
   * VFIO pin and unpin): two program runs per call. Per call, not per workload: how
   * many calls a run makes varies (6.1 maps each physically contiguous run of pages
   * at once, and how contiguous the pinned buffer is depends on what else holds
   * memory); and apart from the kprobes, whose runs under TCG cost tens of times more
   * and would weigh by how many trampoline calls came with them.
   */
  nsPerCall: number;
  /** The same for the kprobe pair on pin_user_pages_remote. */
  kprobeNsPerCall: number;
  /**
   * Per call by function group, from the programs' names (bpftool): `map` (iommu_map
   * and __iommu_unmap) and `pin` (VFIO's pin and unpin), each free of the other's
   * count; absent when bpftool could not name the programs.
   */
  byFunction?: { map: number; pin: number };
  workloadMs: number;
  /** Ours only: events in the capture of this run (one per traced call, the start-up's included), a cross-check of the call count. */
  events?: number;
}

/**
 * One timed run of the floor phase: the VFIO workload mapping and unmapping one
 * page a round (the same calls every round), with one tool attached or none.
 */
export interface FloorRun {
  tool: string;
  round: number;
  /** The workload's map/unmap loop, ns per round (its truth's loop_ns / rounds). */
  nsPerRound: number;
}

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1];
  if (fallback === undefined) throw new Error(`--${name} is required`);
  return fallback;
}

/**
 * How long a tool may take to print its ready line, and to exit on SIGINT, before
 * the round fails saying which (a round takes about 30 s; one hung for 25 minutes once).
 */
const READY_MS = 180_000;
const STOP_MS = 60_000;
/** The VFIO workload's deadline (it takes seconds). */
const WORKLOAD_MS = 30 * 60_000;

/** Starts a tool and resolves once it printed its ready line and its programs sit still. */
async function start(tool: Tool): Promise<ChildProcess> {
  const p = spawn(tool.argv[0], tool.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: tool.env ?? process.env });
  let out = '';
  let timer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    const on = (d: Buffer): void => {
      out += d;
      if (tool.ready.test(out)) resolve();
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', (code) => reject(new Error(`${tool.name} exited ${code} before it was ready: ${out.trim().slice(-400)}`)));
    timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${tool.name} was not ready in ${READY_MS / 1000} s: ${out.trim().slice(-400)}`));
    }, READY_MS);
  }).finally(() => clearTimeout(timer));
  // bpftrace says "Attaching" before it has attached: wait until its program count holds.
  let last = -1;
  for (let i = 0; i < 600; i++) {
    const n = progRuns(p.pid!).programs;
    if (n > 0 && n === last) break;
    last = n;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return p;
}

/** Program names by id, from bpftool (both tools name programs after their function); empty without it. */
function programNames(): Map<string, string> {
  const r = spawnSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return new Map();
  try {
    return new Map((JSON.parse(r.stdout) as { id: number; name?: string }[]).map((p) => [String(p.id), p.name ?? '']));
  } catch {
    return new Map();
  }
}

/**
 * Which function group a fentry/fexit program belongs to by its name, cut to 15
 * characters by the kernel: ours are iommu_map_fentr, iommu_unmap_fex, vfio_pin_fentry,
 * vfio_unpin_fexi; bpftrace's carry the function's name, however it prefixes it.
 */
export function functionGroup(name: string): 'map' | 'pin' | undefined {
  if (name.includes('map')) return 'map';
  if (name.includes('vfio')) return 'pin';
  return undefined;
}

function byFunction(d: ProgRun, names: Map<string, string>): GuestRun['byFunction'] {
  const sum = { map: { runs: 0, ns: 0 }, pin: { runs: 0, ns: 0 } };
  for (const [id, p] of Object.entries(d.byProgram)) {
    if (p.type !== PROG_TYPE_TRACING) continue;
    const group = functionGroup(names.get(id) ?? '');
    // A program its name does not place: no split rather than a skewed one.
    if (!group) return undefined;
    sum[group].runs += p.runCount;
    sum[group].ns += p.runTimeNs;
  }
  if (!sum.map.runs) return undefined;
  return { map: (2 * sum.map.ns) / sum.map.runs, pin: sum.pin.runs ? (2 * sum.pin.ns) / sum.pin.runs : NaN };
}

/** Stops a tool with SIGINT; one still running after STOP_MS is killed and named on stderr. */
async function stop(p: ChildProcess, name: string): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  const timer = setTimeout(() => {
    process.stderr.write(`${name} did not exit ${STOP_MS / 1000} s after SIGINT: killed\n`);
    p.kill('SIGKILL');
  }, STOP_MS);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  const bin = arg('bin');
  const rounds = Number(arg('rounds', '3'));
  const vfioRounds = arg('vfio-rounds', '50');
  const sizeMiB = arg('size-mib', '2');
  enableBpfStats();
  const cli = path.resolve(__dirname, '..', '..', 'src', 'bin', 'iommutrace.js');
  // In the guest's own tmpfs: a file on the shared 9p folder would make every
  // write DMA through the IOMMU, traced by the very probes being measured.
  const capture = '/dev/shm/overhead.iotrace';
  const tools: Tool[] = [
    // --hold-modules: VFIO's functions through trampolines too, as bpftrace's kfuncs (by default kprobes, which do not hold the module).
    { name: 'iommutrace record', argv: [process.execPath, cli, 'record', '--probes', LAB_PROBES.join(','), '--hold-modules', '-o', capture, '--force'], ready: /recording to/ },
    // The agent, in whatever mode export runs by default (summed in the kernel once it can).
    { name: 'iommutrace export', argv: [process.execPath, cli, 'export', '--probes', LAB_PROBES.join(','), '--hold-modules', '--listen', '127.0.0.1:0'], ready: /^exporting /m },
    { name: 'bpftrace', argv: ['bpftrace', '-e', BPFTRACE], ready: /Attaching \d+ probes/ },
  ];
  // Experiments, other builds of the object in the same boot: IT_BENCH_VARIANTS="export:label=/path/to.bpf.o;record:label=...".
  for (const v of (process.env.IT_BENCH_VARIANTS ?? '').split(';').filter(Boolean)) {
    const m = /^(export|record):([^=]+)=(.+)$/.exec(v);
    if (!m) throw new Error(`IT_BENCH_VARIANTS: cannot read ${v}`);
    const base = tools.find((t) => t.name === `iommutrace ${m[1]}`)!;
    tools.push({ ...base, name: `${base.name} ${m[2]}`, env: { ...process.env, IOMMUTRACE_BPF_OBJECT: m[3] } });
  }
  tools.forEach((t, i) => {
    if (!t.argv.includes(capture)) return;
    t.capture = `/dev/shm/overhead-${i}.iotrace`;
    t.argv = t.argv.map((a) => (a === capture ? t.capture! : a));
  });
  const runs: GuestRun[] = [];
  const workload = (): void => {
    const w = spawnSync(path.join(bin, 'vfio'), ['--device', LAB_DEVICE, '--rounds', vfioRounds, '--size-mib', sizeMiB, '--out', '/dev/shm/vfio.json'], { encoding: 'utf8', timeout: WORKLOAD_MS });
    if (w.status !== 0) throw new Error(`the vfio workload failed: ${w.error?.message ?? ''} ${(w.stderr || w.stdout).trim().slice(-300)}`);
  };
  for (let round = 1; round <= rounds; round++) {
    // Every tool attached at once, around the same calls: how many calls a run makes
    // varies with how contiguous the pinned buffer is, and the per-call cost follows
    // that count more than the tool (measured in separate runs, 200 to 130,000 calls).
    // The order they attach in (and so run in, in each trampoline) rotates.
    const order = tools.map((_, i) => tools[(i + round) % tools.length]);
    const procs: ChildProcess[] = [];
    try {
      for (const tool of order) procs.push(await start(tool));
      // Once unmeasured: under TCG the first runs of any code path pay for its translation.
      workload();
      const before = procs.map((p) => progRuns(p.pid!));
      const t0 = Date.now();
      workload();
      const workloadMs = Date.now() - t0;
      // Every tool's programs are loaded now: one listing names them all.
      const names = programNames();
      order.forEach((tool, k) => {
        const d = progRunsSince(before[k], progRuns(procs[k].pid!));
        if (d.runCount === 0) throw new Error(`${tool.name}: no program ran during the workload`);
        const perCall = (t: string) => (d.byType[t]?.runCount ? (2 * d.byType[t].runTimeNs) / d.byType[t].runCount : NaN);
        runs.push({ tool: tool.name, round, runs: d, nsPerCall: perCall(PROG_TYPE_TRACING), kprobeNsPerCall: perCall(PROG_TYPE_KPROBE), byFunction: byFunction(d, names), workloadMs });
      });
    } finally {
      for (const [k, p] of procs.entries()) await stop(p, order[k].name);
    }
    for (const run of runs.filter((r) => r.round === round)) {
      const file = tools.find((t) => t.name === run.tool)?.capture;
      if (file) run.events = readCaptureFile(file).events;
      process.stderr.write(`round ${round} ${run.tool}: ${JSON.stringify(run)}\n`);
    }
  }
  for (const t of tools) if (t.capture) fs.rmSync(t.capture, { force: true });
  const floor = await floorPhase(bin, tools, Number(arg('floor-rounds', '7')), Number(arg('floor-loop', '2000')));
  console.log(JSON.stringify({ kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), probes: LAB_PROBES, runs, ...floor }));
}

/**
 * The floor phase: each tool alone, and none, and the empty programs, around a
 * loop of one-page maps (so every round makes the same traced calls), in rotating
 * order; the time per round with a tool minus the time with none is what the
 * tool costs the caller, trampolines and kprobe traps included, which the
 * kernel's run statistics leave out. Those statistics are off while timing (they
 * read the clock around every program); one counted run first says how many
 * traced calls a round makes.
 */
async function floorPhase(bin: string, tools: Tool[], rounds: number, loop: number): Promise<{ floor: FloorRun[]; callsPerRound: Record<string, number> }> {
  const truthFile = '/dev/shm/floor.json';
  const timed = (): number => {
    const w = spawnSync(path.join(bin, 'vfio'), ['--device', LAB_DEVICE, '--rounds', String(loop), '--size-kib', '4', '--out', truthFile], { encoding: 'utf8', timeout: WORKLOAD_MS });
    if (w.status !== 0) throw new Error(`the vfio workload failed: ${w.error?.message ?? ''} ${(w.stderr || w.stdout).trim().slice(-300)}`);
    return (JSON.parse(fs.readFileSync(truthFile, 'utf8')) as { loop_ns: number }).loop_ns / loop;
  };
  const set: (Tool | undefined)[] = [
    undefined,
    ...STEPS,
    tools.find((t) => t.name === 'iommutrace export'),
    tools.find((t) => t.name === 'bpftrace'),
  ];
  const nameOf = (t: Tool | undefined) => t?.name ?? 'none';
  // How many traced calls (program pairs) a round makes, counted once with the statistics on.
  const callsPerRound: Record<string, number> = {};
  for (const tool of set.slice(1)) {
    const p = await start(tool!);
    try {
      const before = progRuns(p.pid!);
      timed();
      const d = progRunsSince(before, progRuns(p.pid!));
      callsPerRound[tool!.name] = d.runCount / 2 / loop;
    } finally {
      await stop(p, tool!.name);
    }
  }
  const was = setBpfStats(false);
  const out: FloorRun[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < set.length; i++) {
        const tool = set[(i + round) % set.length];
        const p = tool ? await start(tool) : undefined;
        try {
          timed(); // once unmeasured: TCG translates the trampolines' code on first use
          out.push({ tool: nameOf(tool), round, nsPerRound: timed() });
        } finally {
          if (p) await stop(p, tool!.name);
        }
        process.stderr.write(`floor round ${round}: ${JSON.stringify(out.at(-1))}\n`);
      }
    }
  } finally {
    restoreBpfStats(was);
  }
  return { floor: out, callsPerRound };
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`lab-overhead-guest: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
