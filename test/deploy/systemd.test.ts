/**
 * The exporter's systemd unit as a host runs it: the packed tarball installed with
 * `npm install -g` into the prefix a lab guest (Debian 6.12, emulated VT-d, the
 * e1000e) sees at /usr/local; in the guest, whose PID 1 is Debian's own systemd, the
 * unit is copied and `systemctl enable --now`ed before any VFIO module is loaded
 * (src/lab/systemd-guest.sh), then the vfio workload runs. Here
 * the guest's record is judged: probes attached, the workload's bytes on /metrics,
 * the process's capabilities, systemd's security score, a SIGKILL restarted without
 * BPF objects left over, a clean stop, the journal.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { VfioTruth } from '../../src/lab';
import { runSystemdLab, type SystemdLabResult } from '../../src/lab/systemd-boot';
import { attachedProbes, parseExposition } from '../exposition';
import { ROOT } from '../helpers';
import { labTestOptions, prepareKernels, requirePrerequisites } from '../lab/prerequisites';

const KERNEL = 'debian-6.12';
const UNIT = path.join(ROOT, 'deploy', 'systemd', 'iommutrace-export.service');
const DEVICE = '0000:00:03.0';
/** VFIO type1 maps and unmaps 2 pages in each new domain (test/lab/groundtruth.test.ts). */
const TYPE1_FGSP_PROBE_BYTES = 2 * 4096;
/** Above this `systemd-analyze security` calls a unit's exposure MEDIUM or worse. */
const EXPOSURE_OK = 4.5;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-systemd-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The capability numbers of linux/capability.h the unit names. */
const CAP_NUMBERS: Record<string, number> = { CAP_SYS_RESOURCE: 24, CAP_SYSLOG: 34, CAP_PERFMON: 38, CAP_BPF: 39, CAP_SYS_ADMIN: 21 };

function unitCapabilities(): bigint {
  const line = /^CapabilityBoundingSet=(.*)$/m.exec(fs.readFileSync(UNIT, 'utf8'))?.[1] ?? '';
  return line
    .split(/\s+/)
    .filter(Boolean)
    .reduce((mask, c) => {
      assert.ok(c in CAP_NUMBERS, `capability ${c} has a number here`);
      return mask | (1n << BigInt(CAP_NUMBERS[c]));
    }, 0n);
}

interface BpfProg {
  id: number;
  type: string;
  map_ids?: number[];
}

/** The kinds the agent loads; systemd's own programs (cgroup_device, cgroup_skb) are not its. */
const TRACING = new Set(['kprobe', 'tracing', 'tracepoint', 'raw_tracepoint', 'perf_event']);

/**
 * Tracing programs in `file` that were not loaded at boot: the agent's (Debian 12's
 * bpftool is built without the skeletons that would name their process).
 */
function agentProgs(file: string): BpfProg[] {
  const boot = new Set(json<BpfProg[]>('progs-boot.json').map((p) => p.id));
  return json<BpfProg[]>(file).filter((p) => TRACING.has(p.type) && !boot.has(p.id));
}

let tarball = '';
before(async () => {
  await prepareKernels([KERNEL]);
  const r = spawnSync('npm', ['pack', '--pack-destination', tmp, '--json'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, `npm pack failed: ${r.stderr}`);
  tarball = path.join(tmp, (JSON.parse(r.stdout) as { filename: string }[])[0].filename);
});

let run: SystemdLabResult | undefined;
const read = (f: string): string => fs.readFileSync(path.join(run!.results, f), 'utf8').trim();
const json = <T>(f: string): T => JSON.parse(read(f)) as T;
const stepOk = (step: string): void => assert.equal(read(`${step}.rc`), '0', `${step}: ${read(`${step}.log`).split('\n').slice(-10).join('\n')}`);
/** The checks after the boot skip when it did not happen (its own test says why). */
const ran = (t: TestContext): boolean => {
  if (!run) t.skip('the systemd guest did not run');
  return run !== undefined;
};
const ms = (f: string): string => `${(Number(read(f)) / 1000).toFixed(1)} s`;

test('under systemd as PID 1: the packed tarball installed, the unit enabled and started before VFIO', labTestOptions(KERNEL, 25), async (t) => {
  requirePrerequisites(KERNEL);
  run = await runSystemdLab({ kernel: KERNEL, tarball, outDir: path.join(tmp, 'out'), onProgress: (m) => process.stderr.write(`# ${m}\n`) });
  t.diagnostic(`npm install -g ${(run.installMs / 1000).toFixed(1)} s; guest ${(run.guestMs / 1000).toFixed(0)} s; enable --now to metrics ${ms('start.ms')}; stop ${ms('stop.ms')}`);
  assert.equal(read('pid1'), 'systemd');
  assert.equal(read('kernel'), run.kernel.release);
  for (const step of ['copy-unit', 'enable']) stepOk(step);
  assert.equal(read('is-enabled'), 'enabled');
  assert.equal(read('vfio-modules-at-start'), '', 'no VFIO module was loaded when the exporter started');
  const start = parseExposition(read('metrics-start.txt'));
  const attached = attachedProbes(start);
  t.diagnostic(`attached: ${attached.join(' ')}`);
  assert.ok(attached.includes('iommu.map') && attached.includes('iommu.unmap'), `the DMA map probes attached: ${attached.join(' ')}`);
  assert.match(read('journal.txt'), new RegExp(`^exporting live \\(${attached.length} of \\d+ probes attached\\): metrics on http://127\\.0\\.0\\.1:9464/metrics$`, 'm'));
});

test('the vfio workload\'s bytes are on /metrics as it mapped them', (t) => {
  if (!ran(t)) return;
  stepOk('workload');
  const truth = JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'ground-truth', 'vfio.json'), 'utf8')) as VfioTruth;
  assert.equal(truth.device, DEVICE);
  const m = parseExposition(read('metrics-vfio.txt'));
  assert.equal(m.get(`iommutrace_dma_mapped_bytes_total{device="${DEVICE}"}`), truth.mapped_bytes + TYPE1_FGSP_PROBE_BYTES);
  assert.equal(m.get(`iommutrace_dma_unmapped_bytes_total{device="${DEVICE}"}`), truth.unmapped_bytes + TYPE1_FGSP_PROBE_BYTES);
});

test('the process holds exactly the unit\'s capabilities, and systemd rates its sandbox', (t) => {
  if (!ran(t)) return;
  const caps = new Map(read('caps').split('\n').map((l) => l.split(/:\s+/) as [string, string]));
  const want = unitCapabilities();
  for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb']) assert.equal(BigInt(`0x${caps.get(set)}`), want, `${set} ${caps.get(set)}`);
  assert.match(read('cmdline'), /^\S*node \/usr\/local\/bin\/iommutrace export --listen 127\.0\.0\.1:9464\b/, 'the installed copy, found by systemd in /usr/local/bin');
  const security = read('security.txt');
  const score = /Overall exposure level for iommutrace-export\.service: ([\d.]+)/.exec(security);
  assert.ok(score, security.slice(-500));
  t.diagnostic(`systemd-analyze security: ${score[1]}`);
  assert.ok(Number(score[1]) < EXPOSURE_OK, `exposure ${score[1]}`);
});

test('systemctl kill -s KILL: restarted, and nothing of the killed agent\'s BPF is left', (t) => {
  if (!ran(t)) return;
  stepOk('kill');
  const [first, second] = [Number(read('pid-first')), Number(read('pid-second'))];
  assert.ok(second > 0 && second !== first, `a new main process (${first} -> ${second})`);
  assert.ok(Number(read('restarts')) >= 1, 'counted as a restart');
  const killed = agentProgs('progs-first.json');
  assert.ok(killed.length > 0, 'the first agent loaded programs');
  const now = agentProgs('progs-second.json');
  const ids = new Set(now.map((p) => p.id));
  assert.deepEqual(killed.filter((p) => ids.has(p.id)).map((p) => p.id), [], 'no program of the killed agent');
  const maps = new Set(json<{ id: number }[]>('maps-second.json').map((m) => m.id));
  assert.deepEqual([...new Set(killed.flatMap((p) => p.map_ids ?? []))].filter((id) => maps.has(id)), [], 'no map of the killed agent');
  assert.ok(now.length > 0, 'the restarted agent loaded its programs');
  assert.equal(read('bpffs'), '', 'nothing pinned in /sys/fs/bpf');
});

test('systemctl stop ends it cleanly within TimeoutStopSec, its programs gone, its lines in the journal', (t) => {
  if (!ran(t)) return;
  stepOk('stop');
  const props = new Map(read('stopped').split('\n').map((l) => l.split('=') as [string, string]));
  assert.equal(props.get('Result'), 'success', 'not "timeout": it stopped within TimeoutStopSec');
  assert.equal(props.get('ActiveState'), 'inactive');
  assert.equal(props.get('ExecMainStatus'), '0');
  const running = agentProgs('progs-second.json');
  const left = new Set(json<BpfProg[]>('progs-stopped.json').map((p) => p.id));
  assert.deepEqual(running.filter((p) => left.has(p.id)).map((p) => p.id), [], 'no program of the stopped agent');
  const journal = read('journal.txt');
  assert.equal(journal.match(/^exporting live /gm)?.length, 2, 'started twice (the SIGKILL\'s restart)');
  assert.match(journal, /^stopped by SIGTERM$/m);
  // Node's warnings (oclif once warned here that ProtectHome hid ~/.local/share).
  assert.doesNotMatch(journal, /^\(node:\d+\) /m);
});
