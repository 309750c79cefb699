import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { Config } from '@oclif/core/config';
import { answerPlatform, placeDebug, unknownCommand } from '../../src/cli';
import { closest, describeError, usageLine } from '../../src/command';

test('--debug moves behind the command, never past --', () => {
  assert.deepEqual(placeDebug(['--debug', 'report', 'x']), ['report', '--debug', 'x']);
  assert.deepEqual(placeDebug(['report', 'x', '--debug']), ['report', '--debug', 'x']);
  assert.deepEqual(placeDebug(['lab', '--', 'iommutrace', '--debug', 'doctor']), ['lab', '--', 'iommutrace', '--debug', 'doctor']);
  assert.deepEqual(placeDebug(['--debug', 'lab', '--', 'doctor', '--debug']), ['lab', '--debug', '--', 'doctor', '--debug']);
  assert.deepEqual(placeDebug(['--debug']), [], 'no command: oclif shows its help');
});

test('unknown commands: named, with the nearest one when it is a slip', () => {
  const ids = ['doctor', 'export', 'lab', 'record', 'report', 'top'];
  assert.equal(unknownCommand(['report', 'x'], ids), undefined);
  assert.equal(unknownCommand(['--version'], ids), undefined);
  assert.match(unknownCommand(['docter'], ids)!, /^unknown command docter; did you mean doctor\?/);
  assert.equal(closest('zzzzzz', ids), undefined);
  assert.match(unknownCommand(['--bogus', 'report'], ids)!, /^--bogus is not an option before a command/);
  assert.equal(unknownCommand([], ids), undefined);
});

test("oclif's several-line parse errors read as one line", () => {
  assert.equal(
    usageLine('Missing 1 required arg:\nfile  capture file\nSee more help with --help', 'report'),
    'Missing 1 required arg: file (capture file); see iommutrace report --help',
  );
  assert.equal(
    usageLine('Parsing --pid \n\tExpected an integer but received: abc\nSee more help with --help', 'report'),
    'Parsing --pid: Expected an integer but received: abc; see iommutrace report --help',
  );
});

test('system errors say their cause once, in words', () => {
  const e = Object.assign(new Error("ENOENT: no such file or directory, open '/x/y'"), { code: 'ENOENT', syscall: 'open', path: '/x/y' });
  assert.equal(describeError(e), 'no such file or directory');
  assert.equal(describeError(new Error('plain\nmore')), 'plain');
});

test("the CLI starts without Node's ESM loader, and oclif still learns the platform", async () => {
  // oclif would import the ES module wsl-utils to ask about WSL; NODE_DEBUG=esm names every ES module loaded.
  const bin = path.join(__dirname, '..', '..', 'src', 'bin', 'iommutrace.js');
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', env: { ...process.env, NODE_DEBUG: 'esm', IOMMUTRACE_NO_CODE_CACHE: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^iommutrace\/\d+\.\d+\.\d+/);
  assert.doesNotMatch(r.stderr, /ModuleLoadMap|wsl-utils/, 'no ES module was loaded');
  answerPlatform();
  const config = await Config.load(path.join(__dirname, '..', '..', '..', 'package.json'));
  assert.equal(config.platform, process.platform);
});
