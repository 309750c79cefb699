/**
 * How hosts run the exporter: the systemd unit (systemd-analyze verify, its offline
 * security score), the Kubernetes manifests (YAML parse and field checks) and the
 * Containerfile's instructions. test/deploy runs them for real: the unit under systemd
 * as PID 1 in a lab guest, the image built and run with podman.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { missingCaps } from '../../src/probes/privileges';
import { CLI, isRoot, need, ROOT } from '../helpers';

const UNIT = path.join(ROOT, 'deploy', 'systemd', 'iommutrace-export.service');
const DAEMONSET = path.join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml');
const SERVICEMONITOR = path.join(ROOT, 'deploy', 'kubernetes', 'servicemonitor.yaml');
const CONTAINERFILE = path.join(ROOT, 'deploy', 'Containerfile');
const PORT = 9464;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-deploy-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** What live tracing needs without CAP_SYS_ADMIN, on a kernel that charges BPF to memlock and on one that does not. */
function coversTracing(caps: string[]): void {
  for (const release of ['5.10.0-32-amd64', '6.12.48-amd64']) {
    assert.deepEqual(missingCaps(new Set(caps) as Parameters<typeof missingCaps>[0], release), [], `enough to trace on ${release}`);
  }
  assert.ok(!caps.includes('CAP_SYS_ADMIN'), 'no CAP_SYS_ADMIN');
}

// ---------------------------------------------------------------- systemd

/** NODE_OPTIONS' value in a systemd Environment= or a Containerfile ENV, quotes taken off. */
function nodeOptions(setting: string | undefined): string {
  return /^"?NODE_OPTIONS="?([^"]*)"?$/.exec(setting ?? '')?.[1] ?? '';
}

/** The unit's [Service] settings; a setting given twice keeps its last value. */
function unitSettings(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (kv) m.set(kv[1], kv[2]);
  }
  return m;
}

function systemdAnalyze(): string | undefined {
  return ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((f) => fs.existsSync(f));
}

/**
 * A root for `systemd-analyze --root`: this system's units, the unit under test, and
 * a stand-in iommutrace where npm installs it (verify checks ExecStart exists).
 */
let madeRoot: string | undefined;
function unitRoot(): string {
  if (madeRoot) return madeRoot;
  const root = path.join(tmp, 'root');
  const system = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => fs.existsSync(path.join(d, 'sysinit.target')));
  assert.ok(system, 'systemd units are installed');
  fs.cpSync(system, path.join(root, 'usr', 'lib', 'systemd', 'system'), { recursive: true, verbatimSymlinks: true });
  fs.mkdirSync(path.join(root, 'etc', 'systemd', 'system'), { recursive: true });
  fs.copyFileSync(UNIT, path.join(root, 'etc', 'systemd', 'system', path.basename(UNIT)));
  fs.mkdirSync(path.join(root, 'usr', 'local', 'bin'), { recursive: true });
  fs.writeFileSync(path.join(root, 'usr', 'local', 'bin', 'iommutrace'), '#!/bin/sh\n', { mode: 0o755 });
  return (madeRoot = root);
}

test('the systemd unit: the exporter on loopback, restarted on failure, four capabilities, a read-only system', () => {
  const s = unitSettings(fs.readFileSync(UNIT, 'utf8'));
  assert.match(s.get('ExecStart') ?? '', new RegExp(`^iommutrace export --listen 127\\.0\\.0\\.1:${PORT}$`));
  assert.equal(s.get('Restart'), 'on-failure');
  const caps = (s.get('CapabilityBoundingSet') ?? '').split(/\s+/).sort();
  assert.deepEqual(caps, ['CAP_BPF', 'CAP_PERFMON', 'CAP_SYSLOG', 'CAP_SYS_RESOURCE']);
  assert.deepEqual((s.get('AmbientCapabilities') ?? '').split(/\s+/).sort(), caps);
  coversTracing(caps);
  for (const [k, v] of Object.entries({ ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes', NoNewPrivileges: 'yes', ProtectKernelModules: 'yes' })) {
    assert.equal(s.get(k), v, k);
  }
  // ProtectKernelTunables would hide /proc/kallsyms (test/deploy/systemd.test.ts saw the
  // exporter exit under it): its read-only part is spelt out instead.
  assert.ok(!s.has('ProtectKernelTunables'));
  assert.deepEqual((s.get('ReadOnlyPaths') ?? '').split(/\s+/).slice(0, 2), ['/sys', '/proc/sys']);
  // It would take CAP_SYSLOG away, and with it the names of the functions that take group references.
  assert.ok(!s.has('ProtectKernelLogs'));
  assert.ok(!s.has('ReadWritePaths'), 'the exporter writes nothing');
  assert.equal(s.get('WantedBy'), 'multi-user.target');
  // V8's heap sized for a long-running agent (README, Performance).
  assert.match(nodeOptions(s.get('Environment')), /^--max-semi-space-size=\d+ --max-old-space-size=\d+$/);
});

test('systemd-analyze verify passes the unit without a warning', (t) => {
  const sa = systemdAnalyze();
  if (!need(t, sa !== undefined, 'systemd-analyze (Debian package systemd)')) return;
  const root = unitRoot();
  const r = spawnSync(sa!, ['verify', `--root=${root}`, path.join(root, 'etc', 'systemd', 'system', path.basename(UNIT))], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no warnings');
});

test('systemd-analyze security rates the unit\'s exposure OK (below 4 of 10)', (t) => {
  const sa = systemdAnalyze();
  if (!need(t, sa !== undefined, 'systemd-analyze (Debian package systemd)')) return;
  const root = unitRoot();
  const r = spawnSync(sa!, ['security', '--offline=true', `--root=${root}`, '--no-pager', path.basename(UNIT)], { encoding: 'utf8', timeout: 60_000 });
  // --offline came with systemd 250.
  if (!need(t, !/unrecognized option|unknown option/i.test(r.stderr), `systemd-analyze security --offline: ${r.stderr.trim()}`)) return;
  assert.equal(r.status, 0, r.stderr);
  const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout.slice(-500));
  t.diagnostic(`exposure ${m![1]}`);
  assert.ok(Number(m![1]) < 4, `exposure ${m![1]}`);
});

test('the unit\'s capabilities are enough: record attaches as many probes with only them as with all of root\'s', { timeout: 120_000 }, (t) => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => fs.existsSync(f));
  if (!need(t, isRoot() && setpriv !== undefined, 'root and setpriv (util-linux), to drop capabilities')) return;
  const caps = (unitSettings(fs.readFileSync(UNIT, 'utf8')).get('CapabilityBoundingSet') ?? '').split(/\s+/);
  const only = caps.map((c) => '+' + c.replace(/^CAP_/, '').toLowerCase()).join(',');
  const attached = (prefix: string[], name: string): string[] => {
    const file = path.join(tmp, `${name}.iotrace`);
    const argv = [...prefix, process.execPath, CLI, 'record', '-d', '1s', '-o', file, '--force'];
    const r = spawnSync(argv[0], argv.slice(1), {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HOME: tmp },
    });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    const rep = spawnSync(process.execPath, [CLI, 'report', file, '--json'], { encoding: 'utf8' });
    return (JSON.parse(rep.stdout).probes as { name: string; status: string }[]).filter((p) => p.status === 'attached').map((p) => p.name).sort();
  };
  const root = attached([], 'root');
  const unit = attached([setpriv!, '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=-all,${only}`], 'unit-caps');
  assert.ok(root.length > 0, 'something attaches here');
  assert.deepEqual(unit, root);
});

// ---------------------------------------------------------------- Kubernetes

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function manifests(file: string): K8sObject[] {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  assert.ok(Array.isArray(docs), `${file} parses`);
  for (const d of docs) assert.deepEqual(d.errors, [], `${path.basename(file)} is valid YAML`);
  const objs = docs.map((d) => d.toJS() as K8sObject);
  for (const o of objs) {
    assert.ok(o.apiVersion && o.kind && o.metadata?.name, `${path.basename(file)}: apiVersion, kind and name`);
    if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'iommutrace', `${o.kind} ${o.metadata.name} namespace`);
  }
  return objs;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

test('the DaemonSet: capabilities instead of privileged, BTF, tracefs and debugfs read-only, the metrics port scraped', () => {
  const objs = manifests(DAEMONSET);
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.ok(ds, 'a DaemonSet');
  assert.equal(ds.apiVersion, 'apps/v1');
  const ns = objs.find((o) => o.kind === 'Namespace' && o.metadata.name === 'iommutrace');
  assert.ok(ns, 'its namespace');
  // Pod Security admission would refuse host paths and added capabilities at its baseline level.
  assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'privileged');
  const tpl = ds.spec.template;
  assert.ok(Object.keys(ds.spec.selector.matchLabels).length > 0 && matches(ds.spec.selector.matchLabels, tpl.metadata.labels), 'the selector picks the pods');
  const pod = tpl.spec;
  assert.notEqual(pod.hostNetwork, true, 'the pod address, not the host network');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.ok(c.image, 'an image');
  assert.deepEqual(c.args, ['--listen', `0.0.0.0:${PORT}`]);
  const port = c.ports.find((p: { name: string }) => p.name === 'metrics');
  assert.deepEqual([port?.containerPort, port?.protocol], [PORT, 'TCP']);
  assert.equal(c.readinessProbe.httpGet.path, '/metrics');
  assert.ok(c.resources.limits.memory, 'a memory limit');

  const sc = c.securityContext;
  assert.equal(sc.privileged, false);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  coversTracing(sc.capabilities.add.map((x: string) => `CAP_${x}`));

  const mounts = new Map<string, { readOnly?: boolean; name: string }>(c.volumeMounts.map((m: { mountPath: string; name: string; readOnly?: boolean }) => [m.mountPath, m]));
  const volumes = new Map<string, { hostPath?: { path: string } }>(pod.volumes.map((v: { name: string }) => [v.name, v]));
  for (const dir of ['/sys/kernel/btf', '/sys/kernel/tracing', '/sys/kernel/debug']) {
    const m = mounts.get(dir);
    assert.equal(m?.readOnly, true, `${dir} mounted read-only`);
    assert.equal(volumes.get(m!.name)?.hostPath?.path, dir, `${dir} from the host`);
  }

  const a = tpl.metadata.annotations;
  assert.deepEqual([a['prometheus.io/scrape'], a['prometheus.io/port'], a['prometheus.io/path']], ['true', String(PORT), '/metrics']);
});

test('the ServiceMonitor scrapes the DaemonSet\'s pods through a Service on the metrics port', () => {
  const pods = manifests(DAEMONSET).find((o) => o.kind === 'DaemonSet')!.spec.template.metadata.labels;
  const objs = manifests(SERVICEMONITOR);
  const svc = objs.find((o) => o.kind === 'Service')!;
  const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
  assert.ok(svc && sm);
  assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
  assert.ok(matches(svc.spec.selector, pods), 'the Service selects the pods');
  assert.deepEqual([svc.spec.ports[0].port, svc.spec.ports[0].targetPort, svc.spec.ports[0].name], [PORT, 'metrics', 'metrics']);
  assert.ok(matches(sm.spec.selector.matchLabels, svc.metadata.labels), 'the ServiceMonitor selects the Service');
  assert.deepEqual([sm.spec.endpoints[0].port, sm.spec.endpoints[0].path], ['metrics', '/metrics']);
});

// ---------------------------------------------------------------- the image

/** Containerfile instructions (continuation lines joined, comments dropped). */
function instructions(text: string): { op: string; args: string }[] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => /^\s*([A-Z]+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ op: m[1], args: m[2].replace(/\s+/g, ' ').trim() }));
}

test('the Containerfile installs the packed tgz without a compiler and runs the exporter on its port', () => {
  const ins = instructions(fs.readFileSync(CONTAINERFILE, 'utf8'));
  const ops = (op: string) => ins.filter((i) => i.op === op).map((i) => i.args);
  // The base is a build argument (the tests build on their own), by default Node's current LTS image.
  assert.deepEqual(ins.slice(0, 2).map((i) => i.op), ['ARG', 'FROM']);
  assert.match(ins[0].args, /^BASE=docker\.io\/library\/node:24-bookworm-slim$/);
  assert.equal(ins[1].args, '${BASE}');
  assert.ok(ops('COPY').some((a) => /^iommutrace-\*\.tgz /.test(a)), 'the packed tgz is copied in');
  const runs = ops('RUN').join(' && ');
  assert.match(runs, /npm install -g [^&]*\/tmp\/iommutrace-\*\.tgz/);
  assert.match(runs, /apt-get install [^&]*\blibbpf1\b/, 'the addon\'s one runtime library');
  assert.ok(!/build-essential|\bg\+\+|\bgcc\b|\bmake\b|python|libbpf-dev/.test(runs), 'no toolchain in the image');
  assert.deepEqual(ops('EXPOSE'), [String(PORT)]);
  assert.deepEqual(JSON.parse(ops('ENTRYPOINT')[0]), ['iommutrace', 'export']);
  assert.deepEqual(JSON.parse(ops('CMD')[0]), ['--listen', `0.0.0.0:${PORT}`]);
  assert.equal(nodeOptions(ops('ENV')[0]), nodeOptions(unitSettings(fs.readFileSync(UNIT, 'utf8')).get('Environment')), 'the same heap as the systemd unit');
  // The DaemonSet's image runs what the Containerfile builds, with the same arguments.
  const ds = manifests(DAEMONSET).find((o) => o.kind === 'DaemonSet')!;
  assert.deepEqual(ds.spec.template.spec.containers[0].args, JSON.parse(ops('CMD')[0]));
});
