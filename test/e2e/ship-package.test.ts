/**
 * The npm package as a host gets it: packed from this tree, installed into an empty
 * prefix with a PATH of node, npm and sh only (no compiler, make or python), then
 * doctor and report run from the installed copy, outside the clone.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { type Arch, ARCHES, bpfObjectFile, elfMachine, prebuiltAddonFile } from '../../src/loader/arch';
import { Pane } from '../tui/tmux';
import { isRoot, need, ROOT } from '../helpers';
import { hasStackTrace } from './cli';
import { SHIP_CAPTURE, shipCapture } from './ship-capture';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-ship-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Where this machine's npm lives (its bin is a script run by node). */
function npmCli(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const f = path.join(dir, 'npm');
    if (dir && fs.existsSync(f)) return fs.realpathSync(f);
  }
  throw new Error('npm is not on PATH');
}

function run(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: opts.timeout ?? 120_000, cwd: opts.cwd ?? tmp, env: opts.env ?? process.env });
}

const NPM = npmCli();
/** A PATH directory with node, npm and sh (npm runs scripts through sh): nothing that compiles. */
const BARE = path.join(tmp, 'bare-bin');
fs.mkdirSync(BARE);
fs.symlinkSync(process.execPath, path.join(BARE, 'node'));
fs.symlinkSync(NPM, path.join(BARE, 'npm'));
fs.symlinkSync('/bin/sh', path.join(BARE, 'sh'));
const TOOLCHAIN = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python', 'python3', 'pkg-config'];

/** npm's own settings on this machine (registry, CA): --prefix would otherwise move the global config away. */
const GLOBALCONFIG = run([process.execPath, NPM, 'config', 'get', 'globalconfig']).stdout.trim();

let tgz = '';
let files: string[] = [];
before(
  () => {
    const r = run([process.execPath, NPM, 'pack', '--pack-destination', tmp, '--json'], { cwd: ROOT, timeout: 300_000 });
    assert.equal(r.status, 0, `npm pack failed:\n${r.stderr}`);
    const [info] = JSON.parse(r.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tgz = path.join(tmp, info.filename);
    files = info.files.map((f) => f.path);
    console.log(`packed ${info.filename}: ${info.size} bytes, ${info.unpackedSize} unpacked, ${files.length} files`);
  },
  { timeout: 300_000 },
);

/** `npm install -g` of a tarball into a fresh prefix, with only PATH_ on the PATH. */
function install(file: string, prefix: string, pathVar: string): SpawnSyncReturns<string> {
  fs.mkdirSync(prefix, { recursive: true });
  const env = { HOME: process.env.HOME ?? os.homedir(), PATH: pathVar, ...(process.env.CI ? { CI: process.env.CI } : {}) };
  const args = ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', '--fetch-timeout', '60000'];
  if (GLOBALCONFIG) args.push('--globalconfig', GLOBALCONFIG);
  return run(['npm', ...args, file], { env, timeout: 600_000 });
}

function du(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += du(p);
    else if (e.isFile()) n += fs.statSync(p).size;
  }
  return n;
}

test('npm pack holds the BPF objects, the prebuilt addons, the sources for a fallback build and what the commands read', () => {
  for (const f of [
    'package.json',
    'README.md',
    ...ARCHES.flatMap((a) => [bpfObjectFile(a), prebuiltAddonFile(a)]),
    'oclif.manifest.json',
    'dist/src/bin/iommutrace.js',
    'dist/src/bin/iommutop.js',
    'dist/src/scripts/install-addon.js',
    'src/capture/iotrace.proto',
    'src/export/remote-write.proto',
    'dashboards/iommutop.json',
    'dashboards/prometheus/iommutrace.rules.yml',
    'deploy/systemd/iommutrace-export.service',
    'deploy/kubernetes/daemonset.yaml',
    'binding.gyp',
    'src/loader/native/addon.cc',
    'src/loader/native/common.h',
  ]) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  for (const f of files) {
    assert.ok(!f.startsWith('build/Release/') && !f.startsWith('dist/test/') && !f.endsWith('.map') && !f.startsWith('node_modules/'), `${f} does not belong in the package`);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.notEqual(pkg.private, true);
  // npm would run `node-gyp rebuild` for a binding.gyp with no install script of ours.
  assert.equal(pkg.gypfile, false);
  assert.match(pkg.scripts.install, /install-addon\.js/);
});

test('each prebuilt addon is built for its architecture, each BPF object for BPF', () => {
  const unpacked = path.join(tmp, 'arches');
  fs.mkdirSync(unpacked, { recursive: true });
  assert.equal(run(['tar', 'xzf', tgz, '-C', unpacked]).status, 0);
  const machine: Record<Arch, number> = { x64: 62, arm64: 183 };
  for (const a of ARCHES) {
    assert.equal(elfMachine(path.join(unpacked, 'package', prebuiltAddonFile(a))), machine[a], prebuiltAddonFile(a));
    assert.equal(elfMachine(path.join(unpacked, 'package', bpfObjectFile(a))), 247, bpfObjectFile(a));
  }
});

let prefix = '';
let installed = '';
test('installs into an empty prefix with no compiler, make or python, and uses the prebuilt addon', { timeout: 600_000 }, (t) => {
  const which = run(['sh', '-c', `for c in ${TOOLCHAIN.join(' ')}; do command -v $c; done; true`], { env: { PATH: BARE } });
  assert.equal(which.stdout.trim(), '', 'the bare PATH holds no toolchain');
  prefix = path.join(tmp, 'prefix');
  const r = install(tgz, prefix, BARE);
  assert.equal(r.status, 0, `npm install -g failed:\n${r.stdout}\n${r.stderr}`);
  installed = path.join(prefix, 'lib', 'node_modules', 'iommutrace');
  // npm versions that hold back install scripts (allowScripts) skip ours: the addon is found at run time anyway.
  if (/> iommutrace@[\d.]+ install/.test(r.stdout)) assert.match(r.stdout, /iommutrace: prebuilt addon loads \(libbpf 1\.\d+/);
  else t.diagnostic('npm did not run the install script; the prebuilt addon is found at run time');
  const load = run([process.execPath, '-e', `require(${JSON.stringify(path.join(installed, prebuiltAddonFile('x64')))})`], { env: { PATH: BARE } });
  assert.equal(load.status, 0, `the prebuilt addon loads: ${load.stderr}`);
  assert.ok(!fs.existsSync(path.join(installed, 'build', 'Release')), 'nothing was built from source');
  for (const bin of ['iommutrace', 'iommutop']) assert.ok(fs.existsSync(path.join(prefix, 'bin', bin)), `${bin} is linked`);
  t.diagnostic(`installed: ${(du(prefix) / 1048576).toFixed(1)} MiB in ${prefix}`);
});

/** Runs a bin of the installed copy as a host would: by name, from an unrelated directory. */
function installedCli(args: string[]): SpawnSyncReturns<string> {
  assert.ok(installed, 'the package was installed');
  return run(['iommutrace', ...args], { env: { HOME: tmp, PATH: `${path.join(prefix, 'bin')}:${BARE}` } });
}

test('doctor --json from the installed copy prints the kernel and every probe', () => {
  const r = installedCli(['doctor', '--json']);
  // This machine refuses fentry and has no kprobes: 0 or 1 both say something true.
  assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, 'iommutrace-doctor/1');
  assert.equal(j.kernel.release, os.release());
  assert.ok(Array.isArray(j.probes) && j.probes.length > 10);
  for (const p of j.probes) {
    assert.equal(typeof p.name, 'string');
    assert.ok(['available', 'unavailable'].includes(p.status), `${p.name}: ${p.status}`);
    if (p.status === 'unavailable') assert.ok(p.reason, `${p.name} says why it is unavailable`);
  }
  assert.equal(r.status === 0, j.probes.some((p: { status: string }) => p.status === 'available'));
});

/** The captures to report on: the test's own, and the lab's when an earlier run left it here. */
function captures(): string[] {
  const own = path.join(tmp, 'ship.iotrace');
  if (!fs.existsSync(own)) shipCapture(own);
  const lab = path.join(ROOT, 'build', 'lab-captures', 'debian-6.1-vfio-gup-leak.iotrace');
  return fs.existsSync(lab) ? [own, lab] : [own];
}

test('report from the installed copy says what the clone says', () => {
  for (const file of captures()) {
    const r = installedCli(['report', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const mine = JSON.parse(r.stdout);
    const clone = run([process.execPath, path.join(ROOT, 'dist', 'src', 'bin', 'iommutrace.js'), 'report', file, '--json']);
    assert.equal(clone.status, 0, clone.stderr);
    assert.deepEqual(mine, JSON.parse(clone.stdout), path.basename(file));
  }
  const own = captures()[0];
  const j = JSON.parse(installedCli(['report', own, '--json']).stdout);
  const c = SHIP_CAPTURE;
  const dev = j.devices.find((d: { device: string }) => d.device === c.device);
  assert.deepEqual([dev?.map_bytes, dev?.unmap_bytes, j.pins.vfio_pages], [c.mapBytes, c.unmapBytes, c.vfioPages]);
  const group = j.groups.find((g: { group: number }) => g.group === c.leakedGroup);
  assert.deepEqual(group?.leaked.map((l: { taker: string }) => l.taker), [c.taker]);
  const text = installedCli(['report', own]);
  assert.equal(text.status, 0, text.stderr);
  assert.ok(text.stdout.includes(c.device) && text.stdout.includes('shipmod_take'), text.stdout);
});

test('report --html from the installed copy writes the page, uPlot inlined from its own dependencies', () => {
  const own = captures()[0];
  const page = path.join(tmp, 'ship.html');
  const r = installedCli(['report', own, '--html', page]);
  assert.equal(r.status, 0, r.stderr);
  const html = fs.readFileSync(page, 'utf8');
  assert.match(html, /<script>\/\*! https:\/\/github\.com\/leeoniya\/uPlot \(v1\.\d+\.\d+\) \*\//, 'uPlot inlined');
  assert.ok(html.includes(SHIP_CAPTURE.device) && html.includes('shipmod_take'), 'the capture in the page');
});

test('export --replay from the installed copy serves the capture\'s metrics', { timeout: 120_000 }, async () => {
  const own = captures()[0];
  const child = spawn(path.join(prefix, 'bin', 'iommutrace'), ['export', '--replay', own, '--speed', '0', '--listen', '127.0.0.1:0'], {
    cwd: tmp,
    env: { HOME: tmp, PATH: `${path.join(prefix, 'bin')}:${BARE}` },
  });
  try {
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no scrape address: ${err}`)), 60_000);
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /metrics on (http:\/\/\S+)/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`export exited ${code}: ${err}`)));
    });
    const c = SHIP_CAPTURE;
    const want = `iommutrace_dma_mapped_bytes_total{device="${c.device}"} ${c.mapBytes}`;
    let body = '';
    for (let i = 0; i < 100 && !body.includes(want); i++) {
      body = await (await fetch(url)).text();
      if (!body.includes(want)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(body.includes(want), `${want} in\n${body.slice(0, 2000)}`);
    assert.match(body, new RegExp(`iommutrace_group_references_leaked\\{group="${c.leakedGroup}"\\} 1`));
  } finally {
    child.kill('SIGTERM');
  }
});

test('iommutop from the installed copy replays a capture in a terminal and quits on q', { timeout: 120_000 }, async (t) => {
  if (!need(t, Pane.available(), 'tmux (Debian package tmux)')) return;
  const pane = Pane.start(140, 40, tmp);
  try {
    pane.run(`PATH=${BARE} ${path.join(prefix, 'bin', 'iommutop')} --replay ${captures()[0]} --speed 0`);
    await pane.waitFor((s) => s.includes(SHIP_CAPTURE.device) && /replay/.test(s), 60_000, 'the device on screen');
    pane.keys('q');
    for (let i = 0; i < 100 && pane.alternateScreen(); i++) await new Promise((r) => setTimeout(r, 200));
    assert.equal(pane.alternateScreen(), false, 'q leaves the dashboard');
  } finally {
    pane.kill();
  }
});

test('record on this kernel from the installed copy writes a capture its report reads', { timeout: 120_000 }, (t) => {
  if (!need(t, isRoot(), 'root, to trace')) return;
  const file = path.join(tmp, 'live.iotrace');
  const r = installedCli(['record', '-d', '1s', '-o', file]);
  assert.ok(!hasStackTrace(r.stderr), r.stderr);
  if (r.status !== 0) {
    // A kernel where nothing can attach says so in one line (doctor says why).
    assert.equal(r.status, 1);
    assert.match(r.stderr.trim(), /^[^\n]*probe[^\n]*$/);
    return;
  }
  const rep = installedCli(['report', file, '--json']);
  assert.equal(rep.status, 0, rep.stderr);
  assert.equal(JSON.parse(rep.stdout).capture.kernel.release, os.release());
});

test('where the prebuilt addon does not load, install builds from source, and without a compiler fails in one clear line', { timeout: 900_000 }, (t) => {
  // The same package with a prebuilt addon that cannot load (another platform's, say).
  const unpacked = path.join(tmp, 'broken');
  fs.mkdirSync(unpacked);
  assert.equal(run(['tar', 'xzf', tgz, '-C', unpacked]).status, 0);
  fs.writeFileSync(path.join(unpacked, 'package', prebuiltAddonFile('x64')), 'not an ELF file\n');
  const broken = path.join(tmp, 'iommutrace-broken.tgz');
  assert.equal(run(['tar', 'czf', broken, '-C', unpacked, 'package']).status, 0);

  const bare = install(broken, path.join(tmp, 'prefix-bare'), BARE);
  assert.notEqual(bare.status, 0, 'no compiler: the install fails');
  assert.match(bare.stderr, /bpf_loader\.node: .*; building the addon from source/);
  assert.match(bare.stderr, /iommutrace: the addon could not be built .*install libbpf1/);

  const tools = run(['sh', '-c', 'command -v c++ && command -v make && command -v python3 && pkg-config --exists libbpf']);
  if (!need(t, tools.status === 0, 'a C++ compiler, make, python3 and libbpf-dev for the build from source')) return;
  const full = path.join(tmp, 'prefix-full');
  const r = install(broken, full, process.env.PATH ?? '');
  assert.equal(r.status, 0, `install with a toolchain failed:\n${r.stdout}\n${r.stderr}`);
  const pkg = path.join(full, 'lib', 'node_modules', 'iommutrace');
  assert.ok(fs.existsSync(path.join(pkg, 'build', 'Release', 'bpf_loader.node')), 'built from source');
  assert.ok(fs.existsSync(path.join(pkg, bpfObjectFile('x64'))), 'the build kept the BPF object');
  const doctor = run(['iommutrace', 'doctor', '--json'], { env: { HOME: tmp, PATH: `${path.join(full, 'bin')}:${BARE}` } });
  assert.equal(JSON.parse(doctor.stdout).format, 'iommutrace-doctor/1', doctor.stderr);
});
