import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isRoot, need } from '../helpers';
import { cli, hasStackTrace } from './cli';

/** One line on stderr, in our style, and nothing of oclif's own decoration. */
function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr, not:\n${stderr}`);
  assert.match(lines[0], /^iommutrace: /, lines[0]);
  assert.ok(!lines[0].includes('›'), lines[0]);
  assert.ok(!hasStackTrace(stderr), stderr);
  return lines[0];
}

test('a missing argument names it', () => {
  const r = cli(['report']);
  assert.notEqual(r.status, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /Missing 1 required arg/);
  assert.match(line, /\bfile\b/, 'the argument is named');
});

test('a flag that does not parse says why', () => {
  const r = cli(['report', 'x.iotrace', '--pid', 'abc']);
  assert.notEqual(r.status, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /--pid/);
  assert.match(line, /integer/, 'the reason is given');
  assert.match(line, /abc/);
});

test('an unknown command: one line in our style, the closest command suggested', () => {
  const r = cli(['repot', 'x.iotrace']);
  assert.notEqual(r.status, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /unknown command repot/);
  assert.match(line, /report/);
});

test('an argument to a command that takes none is not taken for a command', () => {
  const r = cli(['doctor', 'extra']);
  assert.notEqual(r.status, 0);
  const line = oneLine(r.stderr);
  assert.match(line, /extra/);
  assert.ok(!/doctor:extra/.test(line), line);
});

test('--debug is accepted before the command', () => {
  const missing = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cli-')), 'none.iotrace');
  const r = cli(['--debug', 'report', missing]);
  assert.notEqual(r.status, 0);
  assert.ok(!/command .*not found|unknown command/.test(r.stderr), r.stderr);
  assert.match(r.stderr, /no such file/);
  assert.ok(hasStackTrace(r.stderr), `--debug took effect: ${r.stderr}`);
});

test('a file that cannot be created is said once, in words', (t) => {
  if (!need(t, isRoot(), 'needs root to record')) return;
  const r = cli(['record', '-o', '/nonexistent-dir/x.iotrace', '-d', '1s']);
  assert.notEqual(r.status, 0);
  const line = oneLine(r.stderr);
  assert.ok(!/ENOENT \(ENOENT\)/.test(line), line);
  assert.match(line, /no such file or directory/);
});
