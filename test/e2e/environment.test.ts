/**
 * Environment faults, for real: each test runs the CLI in a private mount namespace
 * (`unshare -m --propagation private`) where /sys/kernel/btf or tracefs is taken away,
 * so the tool meets a kernel without BTF or without tracefs, and the host is untouched.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader';
import type { DoctorReport } from '../../src/commands/doctor';
import { CATALOGUE } from '../../src/probes/catalogue';
import { CLI, isRoot, need } from '../helpers';
import { hasStackTrace } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-env-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const VMLINUX = '/sys/kernel/btf/vmlinux';
const DEFAULT_PROBES = CATALOGUE.filter((s) => !s.optIn).length;
const hostTracefs = fs.existsSync('/sys/kernel/tracing/events');

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

/** Root, unshare, and (for the tests that hide it) a kernel BTF to hide. */
function prerequisites(t: TestContext, btf = false): boolean {
  if (!need(t, isRoot(), 'needs root for a private mount namespace and live tracing')) return false;
  if (!need(t, have('unshare'), 'needs unshare (util-linux)')) return false;
  if (btf && !need(t, fs.existsSync(VMLINUX), `needs ${VMLINUX} on this kernel, to take it away`)) return false;
  return true;
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const iommutrace = (args: string): string => `${sh(process.execPath)} ${sh(CLI)} ${args}`;

/** Hides kernel BTF: an empty tmpfs over /sys/kernel/btf. */
const HIDE_BTF = 'mount -t tmpfs -o size=4k,mode=0755 none /sys/kernel/btf && test ! -e /sys/kernel/btf/vmlinux';
/** Unmounts tracefs at both places libbpf looks (an empty tmpfs over debugfs hides its tracing/). */
const HIDE_TRACEFS =
  'while mountpoint -q /sys/kernel/tracing; do umount /sys/kernel/tracing || exit 90; done; ' +
  'mount -t tmpfs -o size=4k none /sys/kernel/debug && test ! -e /sys/kernel/tracing/events';
/** Without CAP_SYS_ADMIN (so no mounting), with CAP_BPF and CAP_PERFMON: a container's usual grant. */
const NO_SYS_ADMIN = 'setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin --';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `setup; command` in a private mount namespace; output comes back through files. */
function inNamespace(setup: string, command: string, env: NodeJS.ProcessEnv = {}): Run {
  const dir = fs.mkdtempSync(path.join(tmp, 'run-'));
  const [out, err] = [path.join(dir, 'out'), path.join(dir, 'err')];
  const script = `${setup} || exit 91; ${command} >${sh(out)} 2>${sh(err)}`;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    cwd: tmp,
    timeout: 120_000,
  });
  assert.ok(r.status !== 90 && r.status !== 91, `namespace setup failed (${r.status}): ${r.stderr}`);
  const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
  return { status: r.status, stdout: read(out), stderr: read(err) + r.stderr };
}

function doctorJson(r: Run): DoctorReport {
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  return JSON.parse(r.stdout) as DoctorReport;
}

test('no BTF: doctor says so and names every probe it takes down, record says why in one line and writes nothing', (t) => {
  if (!prerequisites(t)) return;
  const env = { IOMMUTRACE_BTF: '' };
  const json = inNamespace(HIDE_BTF, iommutrace('doctor --json'), env);
  assert.equal(json.status, 1, 'no probe can attach: exit 1');
  const d = doctorJson(json);
  assert.equal(d.kernel.btf, false);
  assert.equal(d.kernel.coreBtf, null);
  assert.equal(d.summary.available, 0);
  assert.equal(d.probes.length, DEFAULT_PROBES);
  for (const p of d.probes) {
    assert.equal(p.status, 'unavailable', p.name);
    // Every candidate of every probe fails on the BTF, and says so.
    assert.ok(p.tried.length > 0 && p.tried.every((c) => /the kernel has no BTF/.test(c.reason)), `${p.name}: ${JSON.stringify(p.tried)}`);
    assert.match(p.reason!, /no BTF.*CO-RE/);
  }

  const text = inNamespace(HIDE_BTF, iommutrace('doctor'), env);
  assert.equal(text.status, 1);
  assert.match(text.stdout, /^BTF\s+no \(\/sys\/kernel\/btf\/vmlinux is missing\)/m);
  assert.match(text.stdout, /^CO-RE\s+no kernel types: no program can load \(set IOMMUTRACE_BTF/m);
  // One cause for every probe: said once, under the table.
  assert.match(text.stdout, /^iommu\.map\s+unavailable\s+.*see 1$/m);
  assert.match(text.stdout, /^ {2}1 {2}\[no_core_btf\] the kernel has no BTF/m);
  assert.equal(text.stdout.split('the kernel has no BTF').length, 2, text.stdout);
  assert.match(text.stdout, new RegExp(`^0 of ${DEFAULT_PROBES} probes can attach on this kernel\\.$`, 'm'));

  const file = path.join(tmp, 'nobtf.iotrace');
  const rec = inNamespace(HIDE_BTF, iommutrace(`record -o ${sh(file)} -d 1s`), env);
  assert.equal(rec.status, 1);
  assert.equal(rec.stderr.trim().split('\n').length, 1, rec.stderr);
  assert.match(rec.stderr, /^iommutrace: no probe can attach on this kernel: the kernel has no BTF .*CO-RE.* \(see iommutrace doctor\)$/m);
  assert.ok(!hasStackTrace(rec.stderr));
  assert.ok(!fs.existsSync(file), 'no capture is left behind');
});

test('no BTF, a BTF file given (IOMMUTRACE_BTF): fentry and tp_btf are declined, the CO-RE programs load from the file and record captures', async (t) => {
  if (!prerequisites(t, true)) return;
  const btfFile = path.join(tmp, 'vmlinux.btf');
  fs.copyFileSync(VMLINUX, btfFile);
  const env = { IOMMUTRACE_BTF: btfFile };

  const d = doctorJson(inNamespace(HIDE_BTF, iommutrace('doctor --json'), env));
  assert.equal(d.kernel.btf, false);
  assert.equal(d.kernel.coreBtf, btfFile);
  const map = d.probes.find((p) => p.name === 'iommu.map')!;
  assert.equal(map.status, 'available', map.reason ?? '');
  assert.ok(['raw_tp', 'tracepoint'].includes(map.mode!), `iommu.map through ${map.mode} without kernel BTF`);
  assert.match(map.tried.find((c) => c.mode === 'tp_btf')!.reason, /the kernel has no BTF/);
  for (const p of d.probes) {
    assert.ok(!['fentry', 'fexit', 'tp_btf'].includes(p.mode ?? ''), `${p.name} planned as ${p.mode} without kernel BTF`);
    for (const c of p.tried.filter((x) => ['fentry', 'fexit', 'tp_btf'].includes(x.mode))) assert.match(c.reason, /no BTF|module .* is not loaded/, `${p.name} ${c.mode}`);
  }

  // Record the selftest producer (a classic tracepoint) and iommu.map while this process calls getppid().
  const file = path.join(tmp, 'btf-file.iotrace');
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${HIDE_BTF} && exec ${iommutrace(`record -o ${sh(file)} --probes selftest.getppid,iommu.map`)}`], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr.on('data', (x) => (err += x));
  child.stdout.on('data', (x) => (out += x));
  const exited = new Promise<string>((res) => child.once('exit', (code, signal) => res(signal ?? String(code))));
  while (!/recording to/.test(err)) {
    assert.equal(child.exitCode, null, `record did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const calls = 5000;
  for (let i = 0; i < calls; i++) void process.ppid;
  child.kill('SIGINT');
  assert.equal(await exited, '0', err);
  assert.match(out, /wrote .*btf-file\.iotrace: \d+ events, 0 lost/);

  const mine: number[] = [];
  const c = readCaptureFile(file, { onEvent: (e) => e.probe === 'selftest.getppid' && e.pid === process.pid && mine.push(1) });
  assert.equal(c.cut, false);
  assert.equal(c.header.btf, false);
  assert.equal(c.header.btfFingerprint, createHash('sha256').update(fs.readFileSync(btfFile)).digest('hex'), 'the header names the BTF the programs were relocated against');
  const byName = new Map(c.header.probes.map((p) => [p.name, p]));
  assert.equal(byName.get('selftest.getppid')?.status, 'attached');
  assert.equal(byName.get('iommu.map')?.status, 'attached');
  assert.notEqual(byName.get('iommu.map')?.mode, 'tp_btf');
  assert.ok(mine.length >= calls, `${mine.length} of our ${calls} getppid() calls recorded`);
});

test('a BTF file that is not one: doctor says which and why, in one line', (t) => {
  if (!prerequisites(t)) return;
  const bogus = path.join(tmp, 'not-btf');
  fs.writeFileSync(bogus, 'not BTF at all');
  const d = doctorJson(inNamespace(HIDE_BTF, iommutrace('doctor --json'), { IOMMUTRACE_BTF: bogus }));
  assert.equal(d.kernel.coreBtf, null);
  assert.match(d.kernel.btfError ?? '', new RegExp(`IOMMUTRACE_BTF=${bogus} is not usable: cannot read BTF`));
  assert.ok(!/\n/.test(d.kernel.btfError!), 'one line');
});

test('tracefs not mounted, root: the tool mounts it where libbpf looks and says so', (t) => {
  if (!prerequisites(t)) return;
  const d = doctorJson(inNamespace(HIDE_TRACEFS, iommutrace('doctor --json')));
  assert.equal(d.kernel.tracefs.path, '/sys/kernel/tracing');
  assert.equal(d.kernel.tracefs.mountedByUs, true);
  const text = inNamespace(HIDE_TRACEFS, iommutrace('doctor'));
  assert.match(text.stdout, /^tracefs\s+\/sys\/kernel\/tracing \(mounted now\)$/m);
});

test('tracefs not mounted and no right to mount it: doctor names it, tracepoint probes go, BTF ones stay, record captures with them', (t) => {
  if (!prerequisites(t, true)) return;
  if (!need(t, have('setpriv'), 'needs setpriv (util-linux)')) return;
  const cmd = (args: string): string => `${NO_SYS_ADMIN} ${iommutrace(args)}`;
  const json = inNamespace(HIDE_TRACEFS, cmd('doctor --json'));
  const d = doctorJson(json);
  assert.ok(!d.kernel.capabilities.includes('CAP_SYS_ADMIN'), 'CAP_SYS_ADMIN was dropped');
  assert.equal(d.kernel.tracefs.path, undefined);
  assert.match(d.kernel.tracefs.error ?? '', /^tracefs is not mounted and mounting it failed: .*(permission denied|not permitted)/i);
  assert.ok(!/\n/.test(d.kernel.tracefs.error!), 'one line');
  // Classic tracepoints need tracefs: none is planned, every one tried says why.
  for (const p of d.probes) {
    assert.notEqual(p.mode, 'tracepoint', `${p.name} planned as a classic tracepoint without tracefs`);
    for (const c of p.tried.filter((x) => x.mode === 'tracepoint')) assert.match(c.reason, /tracefs is not mounted/, p.name);
  }
  // tp_btf needs BTF, not tracefs: the iommu tracepoints stay available.
  for (const name of ['iommu.map', 'iommu.unmap', 'iommu.tp_attach']) {
    const p = d.probes.find((x) => x.name === name)!;
    assert.equal(p.status, 'available', `${name}: ${p.reason}`);
    assert.equal(p.mode, 'tp_btf');
  }
  assert.match(inNamespace(HIDE_TRACEFS, cmd('doctor')).stdout, /^tracefs\s+tracefs is not mounted and mounting it failed: /m);

  // Only a classic tracepoint asked for: nothing can attach, one line says why.
  const only = inNamespace(HIDE_TRACEFS, cmd(`record -o ${sh(path.join(tmp, 'never.iotrace'))} -d 1s --probes selftest.getppid`));
  assert.equal(only.status, 1);
  assert.equal(only.stderr.trim().split('\n').length, 1, only.stderr);
  assert.match(only.stderr, /no probe can attach on this kernel: tracefs is not mounted/);
  assert.ok(!fs.existsSync(path.join(tmp, 'never.iotrace')));

  // With the tp_btf probes too: a valid capture, the tracepoint one listed as unavailable with its reason.
  const file = path.join(tmp, 'no-tracefs.iotrace');
  const rec = inNamespace(HIDE_TRACEFS, cmd(`record -o ${sh(file)} -d 1s --probes iommu.map,iommu.unmap,selftest.getppid`));
  assert.equal(rec.status, 0, rec.stderr);
  assert.match(rec.stderr, /2 of 3 probes attached/);
  const c = readCaptureFile(file);
  assert.equal(c.cut, false);
  assert.equal(c.trailer?.stopReason, 'duration');
  const byName = new Map(c.header.probes.map((p) => [p.name, p]));
  assert.equal(byName.get('iommu.map')?.status, 'attached');
  assert.equal(byName.get('iommu.map')?.mode, 'tp_btf');
  assert.equal(byName.get('selftest.getppid')?.status, 'unavailable');
  assert.match(byName.get('selftest.getppid')?.reason ?? '', /tracefs is not mounted/);
  // The host's own tracefs was never touched: only the namespace lost it.
  assert.equal(fs.existsSync('/sys/kernel/tracing/events'), hostTracefs);
});
