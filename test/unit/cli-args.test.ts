import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { placeDebug, unknownCommand } from '../../src/cli';
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
