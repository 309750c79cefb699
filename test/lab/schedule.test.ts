import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { runLab, WORKLOAD_NAMES } from '../../src/lab';
import { labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'bin', 'iommutrace.js');


before(() => prepareKernels(['debian-6.1', 'debian-6.12']));
test('around: the command runs across the workload, is stopped with SIGINT, and its exit code comes back', labTestOptions('debian-6.12', 15), async () => {
  requirePrerequisites('debian-6.12');
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-lab-around-'));
  const r = await runLab({
    kernel: 'debian-6.12',
    workloads: 'vfio',
    schedule: 'around',
    readyPattern: '^ready$',
    command: ['sh', '-c', 'trap "echo stopped; exit 3" INT; echo ready; while :; do sleep 0.1; done'],
    outDir,
    timeoutMs: 10 * 60_000,
  });
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout, 'ready\nstopped\n');
  assert.equal(r.groundTruth.vfio?.[0].mapped_bytes, 10 * 2 << 20);
});

test('iommutrace lab passes the command after -- verbatim and exits with its code', labTestOptions('debian-6.1', 15), () => {
  requirePrerequisites('debian-6.1');
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-lab-cli-'));
  const cmd = 'cat /sys/module/iommutrace_leak/parameters/taken; echo "$0 $1 $1"; exit 7';
  const r = spawnSync(process.execPath, [CLI, 'lab', '--kernel', 'debian-6.1', '--workload', 'leak', '--out', outDir, '--no-interactive', '--', 'sh', '-c', cmd, 'x', '-y'], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  assert.equal(r.status, 7, r.stderr);
  assert.equal(r.stdout, '4\nx -y -y\n');
  const truth = JSON.parse(fs.readFileSync(path.join(outDir, 'ground-truth', 'leak.json'), 'utf8'));
  assert.equal(truth.leaked, 1);
});

test('iommutrace lab refuses an unknown workload in one line', () => {
  const r = spawnSync(process.execPath, [CLI, 'lab', '--workload', 'nope', '--', 'true'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `iommutrace: unknown workload nope: use ${WORKLOAD_NAMES.join(', ')}, all or none\n`);
});
