import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'bin', 'iommutrace.js');

function run(cacheHome: string, args: string[]): { status: number | null; out: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: cacheHome };
  delete env.CACHE_DIRECTORY;
  delete env.IOMMUTRACE_NO_CODE_CACHE;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Every file under the cache (Node 22.1+ keeps its own compile cache a level further down). */
function cached(cacheHome: string): string[] {
  const base = path.join(cacheHome, 'iommutrace');
  if (!fs.existsSync(base)) return [];
  return (fs.readdirSync(base, { recursive: true }) as string[]).map((f) => path.join(base, f)).filter((f) => fs.statSync(f).isFile());
}

test('the commands that attach keep compiled code for their modules, and a damaged entry only means compiling again', (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-cc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const first = run(home, ['record', '--help']);
  assert.equal(first.status, 0, first.out);
  const files = cached(home);
  assert.ok(files.length > 20, `the modules the CLI loaded are cached (${files.length} files)`);
  assert.ok(!files.some((f) => /\.\d+$/.test(f)), 'no temporary file is left behind');

  // Garbage in every entry: V8 rejects it, the CLI still answers the same, and the entries are made again.
  for (const f of files) fs.writeFileSync(f, 'not code');
  const again = run(home, ['record', '--help']);
  assert.equal(again.status, 0, again.out);
  assert.equal(again.out, first.out);
  assert.ok(cached(home).every((f) => fs.readFileSync(f, 'utf8') !== 'not code'), 'rejected entries are rewritten');
});

test("where the package's require()s led is kept, and an answer outside the package or to a file now gone is not followed", (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-cc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const first = run(home, ['record', '--help']);
  assert.equal(first.status, 0, first.out);
  const file = cached(home).find((f) => path.basename(f) === 'resolved.json');
  assert.ok(file, 'resolved.json is written');
  const kept = JSON.parse(fs.readFileSync(file, 'utf8')) as { stamp: string; resolved: Record<string, string> };
  const root = path.resolve(__dirname, '..', '..', '..');
  const answers = Object.values(kept.resolved);
  assert.ok(answers.length > 50 && answers.every((f) => f.startsWith(root + path.sep)), `only files of the package (${answers.length})`);

  // One answer now leads outside the package, another to a file that is gone: both are resolved again.
  const planted = path.join(home, 'planted.js');
  const marker = path.join(home, 'ran');
  fs.writeFileSync(planted, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x');`);
  const keys = Object.keys(kept.resolved);
  const oclif = keys.find((k) => k.endsWith('\0@oclif/core/config'))!;
  const ours = keys.find((k) => k.endsWith('\0../cli'))!;
  assert.ok(oclif && ours, 'the entry points are among them');
  kept.resolved[oclif] = planted;
  kept.resolved[ours] = path.join(root, 'dist', 'src', 'gone.js');
  fs.writeFileSync(file, JSON.stringify(kept));
  const again = run(home, ['record', '--help']);
  assert.equal(again.status, 0, again.out);
  assert.equal(again.out, first.out);
  assert.equal(fs.existsSync(marker), false, 'a file outside the package is never loaded from the cache');
});

test('report, which opens other people\'s captures, writes no cache', (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-cc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const r = run(home, ['report', '--help']);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(cached(home), []);
});

test('a cache directory others can write is not used', (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-cc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  const dir = path.join(home, 'iommutrace', `code-${process.version}-${process.arch}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o777);
  const r = run(home, ['export', '--help']);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing read from or written to a directory another user could plant code in');
});

test('Node 22.1 and later keep the compiled code themselves; only Node 20 gets the hand-made cache', (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-cc-'));
  t.after(() => fs.rmSync(home, { recursive: true, force: true }));
  assert.equal(run(home, ['export', '--help']).status, 0);
  const dir = path.join(home, 'iommutrace', `code-${process.version}-${process.arch}`);
  const code = cached(home).filter((f) => path.basename(f) !== 'resolved.json').map((f) => path.relative(dir, f));
  assert.ok(code.length > 20, `${code.length} files`);
  const builtin = typeof (Module as unknown as { enableCompileCache?: unknown }).enableCompileCache === 'function';
  if (builtin) assert.ok(code.every((f) => f.startsWith(`${process.version}-${process.arch}-`)), `Node's own layout: ${code[0]}`);
  else assert.ok(code.every((f) => /^[0-9a-f]{40}$/.test(f)), `one file per module, by its hash: ${code[0]}`);
});
