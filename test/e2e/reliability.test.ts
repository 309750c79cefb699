import * as assert from 'node:assert/strict';
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader';
import { CLI, isRoot, need } from '../helpers';
import { cli, hasStackTrace } from './cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-rel-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Starts `record` of the selftest producer (every getppid() on the host is an event). */
async function startRecord(file: string, extra: string[] = []): Promise<{ child: ChildProcess; stderr: () => string; stdout: () => string }> {
  const child = spawn(process.execPath, [CLI, 'record', '--probes', 'selftest.getppid', '-o', file, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 60_000;
  while (!/recording to/.test(err)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`record did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, stderr: () => err, stdout: () => out };
}

async function produce(n: number): Promise<void> {
  for (let done = 0; done < n; done += 10_000) {
    for (let i = 0; i < 10_000; i++) void process.ppid;
    await new Promise((r) => setImmediate(r));
  }
}

const exited = (c: ChildProcess): Promise<number | null> => new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));

function ourPrograms(): number {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { name?: string }[];
  return progs.filter((p) => (p.name ?? '').startsWith('selftest_')).length;
}

async function noProgramsLeft(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (ourPrograms() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(ourPrograms(), 0, 'a program of ours is still loaded');
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} during record: a complete capture with every event up to the stop, nothing left in the kernel`, async (t) => {
    if (!need(t, isRoot(), 'needs root to record')) return;
    const file = path.join(tmp, `${signal}.iotrace`);
    const r = await startRecord(file);
    assert.ok(ourPrograms() > 0);
    await produce(100_000);
    r.child.kill(signal);
    assert.equal(await exited(r.child), 0, r.stderr());
    const c = readCaptureFile(file);
    assert.equal(c.cut, false);
    assert.equal(c.trailer?.stopReason, signal);
    assert.equal(c.trailer?.lost, 0);
    assert.ok(c.events >= 100_000, `${c.events} events: ours alone were 100000`);
    assert.equal(c.trailer?.events, c.events);
    await noProgramsLeft();
  });
}

test('SIGKILL during record: the capture reads up to its last chunk, and nothing is left in the kernel', async (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(tmp, 'kill.iotrace');
  const r = await startRecord(file);
  await produce(50_000);
  // Chunks are flushed at least every second.
  await new Promise((res) => setTimeout(res, 2500));
  r.child.kill('SIGKILL');
  await exited(r.child);
  const c = readCaptureFile(file);
  assert.equal(c.cut, true);
  assert.equal(c.damage, undefined);
  assert.ok(c.events >= 50_000, `${c.events} events read`);
  await noProgramsLeft();
});

test('disk full during record: one clear line, exit 1, the file valid up to its last chunk', async (t) => {
  if (!need(t, isRoot(), 'needs root to mount a tmpfs and record')) return;
  const dir = path.join(tmp, 'small');
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'none', dir]);
  t.after(() => execFileSync('umount', ['-l', dir]));
  const file = path.join(dir, 'full.iotrace');
  const r = await startRecord(file);
  await produce(400_000);
  const code = await Promise.race([exited(r.child), new Promise((res) => setTimeout(() => res('timeout'), 30_000))]);
  if (code === 'timeout') r.child.kill('SIGKILL');
  assert.equal(code, 1, r.stderr());
  const lines = r.stderr().trim().split('\n');
  assert.match(lines[lines.length - 1], /cannot write .*full\.iotrace: no space left on device; the capture is readable up to its last whole chunk/);
  assert.ok(!hasStackTrace(r.stderr()));
  const c = readCaptureFile(file);
  assert.equal(c.cut, true);
  assert.equal(c.damage, undefined);
  assert.ok(c.events > 0);
  await noProgramsLeft();
});

test('lost events are shown: a ring too small for the burst reports them in report --json and text', async (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(tmp, 'lossy.iotrace');
  const r = await startRecord(file, ['--ring-size', '1']);
  // Far more than a 1 MiB ring holds while record is busy writing.
  for (let i = 0; i < 300_000; i++) void process.ppid;
  r.child.kill('SIGINT');
  assert.equal(await exited(r.child), 0, r.stderr());
  assert.match(r.stdout(), /\d+ events, [1-9]\d* lost/);
  const json = JSON.parse(cli(['report', file, '--json']).stdout) as { events: { total: number; lost: number } };
  assert.ok(json.events.lost > 0);
  assert.match(cli(['report', file]).stdout, /\d+ lost: counts below are lower bounds/);
});
