import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import type { Report } from '../../src/aggregate/report';
import { readCaptureFile } from '../../src/capture/reader';
import { CLI, isRoot, need } from '../helpers';
import { labCapture } from '../lab/captures';
import { cli } from './cli';

/** The lab's capture with a real QEMU (-name guest=lab-vm), made when missing. */
let LAB: string | undefined;
let why = '';
before(async () => {
  const lab = await labCapture();
  LAB = lab.file;
  why = lab.why ?? '';
});

test('report --json processes[] of the lab capture: QEMU with its own figures, named by its -name guest= when the capture kept process facts', (t) => {
  if (!need(t, LAB !== undefined, why)) return;
  const LAB_FILE = LAB!;
  const r = cli(['report', LAB_FILE, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  const qemu = report.processes.find((p) => p.comm === 'qemu-system-x86');
  assert.ok(qemu, JSON.stringify(report.processes));
  // QEMU's own truth in the lab: guest RAM, BIOS and ROM ranges plus VFIO's 2-page domain test.
  assert.equal(qemu.map_bytes, 537141248);
  assert.equal(qemu.unmap_bytes, 537141248);
  assert.equal(qemu.pinned_pages, 131136);
  assert.equal(qemu.unpinned_pages, 131136);
  // Captures before 0.3.0 carry no process facts: the VM is then unknown, never guessed.
  const facts = readCaptureFile(LAB_FILE).processes;
  if (facts.size) {
    assert.equal(qemu.vm, 'lab-vm', 'QEMU was started with -name guest=lab-vm');
    assert.equal(report.processes.filter((p) => p.vm === 'lab-vm').length, 1);
  } else {
    assert.equal(qemu.vm, null, 'recorded before process frames');
    assert.equal(qemu.cgroup, null);
  }
  assert.ok(qemu.first_map_ns! > 0 && qemu.last_map_ns! > qemu.first_map_ns!);
  assert.equal(qemu.map_bytes_per_s, Math.round(qemu.map_bytes / ((qemu.last_map_ns! - qemu.first_map_ns!) / 1e9)));
  assert.equal(report.processes.reduce((s, p) => s + p.map_bytes, 0), report.dma.map_bytes, 'every VFIO map belongs to a process');
  assert.equal(report.overflow.processes, 0);
  const text = cli(['report', LAB_FILE]);
  assert.match(text.stdout, /^PROCESSES\n {2}PID +COMM +VM +MAPPED/m);
  assert.match(text.stdout, new RegExp(`^ {2}${qemu.pid} +qemu-system-x86 +${qemu.vm ?? '-'} +512\\.3 MiB`, 'm'));
});

test('record reads a process from /proc while it lives: a child named like QEMU with -name guest=vm-test is named in the capture', async (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-proc-')), 'vm.iotrace');
  const rec = spawn(process.execPath, [CLI, 'record', '-o', file, '-d', '3s', '--probes', 'selftest.getppid'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  rec.stderr.on('data', (d) => (err += d));
  const recorded = new Promise((r) => rec.on('exit', r));
  while (!/recording to/.test(err) && rec.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  // argv[0] as a VMM's, and QEMU's option after node's own: process.ppid calls getppid() each time.
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 1000; while (Date.now() < end) process.ppid;', '--', '-name', 'guest=vm-test,debug-threads=on'], {
    argv0: 'qemu-system-x86_64',
    stdio: 'ignore',
  });
  const cgroup = fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').match(/^0::(.*)$/m)?.[1] ?? null;
  await new Promise((r) => child.on('exit', r));
  assert.equal(await recorded, 0, err);
  const c = readCaptureFile(file);
  const facts = c.processes.get(child.pid!);
  assert.ok(facts, `the child ${child.pid} is in the capture's process frames`);
  assert.equal(facts.vm, 'vm-test');
  assert.equal(facts.cgroup, cgroup);
});
