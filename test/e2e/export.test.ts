import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import * as zlib from 'node:zlib';
import * as protobuf from 'protobufjs';
import type { Report } from '../../src/aggregate/report';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { buildReport } from '../../src/report/build';
import { BPF_OBJECT, CLI, isRoot, need, ROOT } from '../helpers';
import { parseExposition } from '../exposition';
import { labCapture } from '../lab/captures';
import { cli, hasStackTrace } from './cli';

const PROMETHEUS = '/usr/bin/prometheus';
const DEADLINE_MS = 90_000;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-export-'));
const children: ChildProcess[] = [];
const servers: http.Server[] = [];

after(async () => {
  for (const c of children) await stopChild(c);
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- the capture

const DEV_A = '0000:00:03.0';
const DEV_B = '0000:00:04.0';
const D_A = 0xffff888000100000n;
const D_B = 0xffff888000200000n;
const D_UNKNOWN = 0xffff888000300000n;
const G3 = 0xffff8880aaaa0000n;
const G4 = 0xffff8880bbbb0000n;
const TAKE = 0xffffffffc0a01000n;
const GET = 0xffffffff81000010n;

/** Values the synthetic capture was built to hold (checked against buildReport first). */
const KNOWN = {
  mapBytes: { [DEV_A]: 4096 * 40, [DEV_B]: 2 * 1024 * 1024 * 20, unknown: 8192 * 5 },
  unmapBytes: { [DEV_A]: 4096 * 10 },
  vfioPages: 3 * 512,
  iommufdPages: 2 * 256,
  unpinnedPages: 512,
  leaked: { 3: 3, 4: 0 },
};

function syntheticCapture(file: string): void {
  const probe = (name: string, target: string, mode: string) => ({ name, target, mode, status: 'attached', reason: '', module: '', lacks: [] });
  const header = {
    toolVersion: '0.0.0-test',
    host: 'synthetic',
    kernelRelease: '6.1.0-56-amd64',
    bootId: 'b00t',
    btfFingerprint: 'ab'.repeat(32),
    btf: true,
    probes: [
      probe('iommu.attach_dev', '__iommu_attach_device', 'fexit'),
      probe('iommu.map', 'iommu_map', 'fexit'),
      probe('iommu.unmap', 'iommu_unmap', 'fexit'),
      probe('iommu.group_get', 'iommu_group_get', 'fexit'),
      probe('iommu.group_put', 'iommu_group_put', 'fentry'),
      probe('vfio.pin', 'vfio_pin_pages_remote', 'fexit'),
      probe('vfio.unpin', 'vfio_unpin_pages_remote', 'fexit'),
      probe('iommufd.pin', 'iommufd_access_pin_pages', 'fexit'),
      probe('gup.fast', 'internal_get_user_pages_fast', 'fexit'),
      { name: 'dirty.walk', target: '', mode: '', status: 'unavailable', reason: 'iova_bitmap_for_each is not in this kernel', module: '', lacks: [] },
    ],
    clockBaseNs: '1000000000',
    wallBaseUnixNs: Date.now() * 1e6,
    kinds: captureKinds(new Decoder(EventSchema.fromFile(BPF_OBJECT))),
    leakAgeNs: 1e9,
    lockdown: 'none',
    argv: ['record'],
  };
  const w = new CaptureWriter(file, header, { force: true });
  let ts = 1_000_000;
  const hdr = (probe: string, extra: object = {}) => ({ ts_ns: (ts += 1000), pid: 100, tid: 100, ret: 0, comm: 'qemu', probe, ...extra });
  const add = (e: Record<string, unknown>) => w.add(e as CaptureEvent);
  const attach = (dev: string, domain: bigint, group: bigint, id: number) =>
    add({ kind: 'attach', ...hdr('iommu.attach_dev'), lat_ns: 5000 + id, domain, group, domain_type: 1, group_id: id, dev_name: dev, driver: 'vfio-pci' });
  attach(DEV_A, D_A, G3, 3);
  attach(DEV_B, D_B, G4, 4);
  const dma = (probe: string, domain: bigint, bytes: number, lat: number) => add({ kind: 'dma', ...hdr(probe), lat_ns: lat, domain, iova: 0x100000n, size: bytes, done: bytes });
  for (let i = 0; i < 40; i++) dma('iommu.map', D_A, 4096, 300 + i * 37);
  for (let i = 0; i < 20; i++) dma('iommu.map', D_B, 2 * 1024 * 1024, 20_000 + i * 1000);
  for (let i = 0; i < 5; i++) dma('iommu.map', D_UNKNOWN, 8192, 900);
  for (let i = 0; i < 10; i++) dma('iommu.unmap', D_A, 4096, 700);
  const ref = (probe: string, group: bigint, id: number, tid: number) =>
    add({ kind: 'group_ref', ...hdr(probe, { tid }), group, group_id: id, nr_frames: 2, dev_name: id === 3 ? DEV_A : DEV_B, stack: [GET, TAKE, ...Array(14).fill(0n)] });
  for (let i = 0; i < 4; i++) ref('iommu.group_get', G3, 3, 200 + i);
  ref('iommu.group_put', G3, 3, 203);
  for (let i = 0; i < 2; i++) ref('iommu.group_get', G4, 4, 300);
  for (let i = 0; i < 2; i++) ref('iommu.group_put', G4, 4, 300);
  const pin = (probe: string, pinned: number) => add({ kind: 'pin', ...hdr(probe), lat_ns: 3000, addr: 0x7f0000000000n, nr_pages: pinned, pinned });
  for (let i = 0; i < 3; i++) pin('vfio.pin', 512);
  for (let i = 0; i < 2; i++) pin('iommufd.pin', 256);
  pin('vfio.unpin', 512);
  for (let i = 0; i < 4; i++) add({ kind: 'gup', ...hdr('gup.fast'), ret: 16, lat_ns: 1200, start: 0x7f0000000000n, nr_pages: 16, gup_flags: 0, fast_pages: 12, fast_seen: 1 });
  w.symbols(new Map([[GET, 'iommu_group_get+0x10'], [TAKE, 'iommutrace_leak_take+0x1c [iommutrace_leak]']]));
  w.close({ endNs: 5e9, lost: 0, stopReason: 'duration' });
}

/** The lab's VFIO capture (made when missing), else the synthetic one, checked against what it is known to hold. */
let picked: { file: string; kind: string } | undefined;
before(async () => {
  const lab = await labCapture();
  if (lab.file) {
    picked = { file: lab.file, kind: `lab capture ${path.basename(lab.file)}` };
    return;
  }
  const file = path.join(tmp, 'synthetic.iotrace');
  syntheticCapture(file);
  const r = buildReport(file);
  const by = (f: (d: Report['devices'][number]) => number) => Object.fromEntries(r.devices.map((d) => [d.device, f(d)]).filter(([, v]) => v));
  assert.deepEqual(by((d) => d.map_bytes), KNOWN.mapBytes);
  assert.deepEqual(by((d) => d.unmap_bytes), KNOWN.unmapBytes);
  assert.deepEqual([r.pins.vfio_pages, r.pins.iommufd_pages, r.pins.unpinned_pages], [KNOWN.vfioPages, KNOWN.iommufdPages, KNOWN.unpinnedPages]);
  assert.deepEqual(Object.fromEntries(r.groups.map((g) => [g.group, g.leaked.length])), KNOWN.leaked);
  picked = { file, kind: `synthetic capture (${lab.why})` };
});

function pickCapture(): { file: string; kind: string } {
  assert.ok(picked, 'a capture was picked before the tests');
  return picked;
}

/** What Prometheus must say, from the report: per series key, the value. */
function expectations(r: Report): Map<string, number> {
  const want = new Map<string, number>();
  const sum = (key: string, v: number) => want.set(key, (want.get(key) ?? 0) + v);
  for (const d of r.devices) {
    sum(`iommutrace_dma_mapped_bytes_total{device="${d.device}"}`, d.map_bytes);
    sum(`iommutrace_dma_unmapped_bytes_total{device="${d.device}"}`, d.unmap_bytes);
  }
  want.set('iommutrace_pinned_pages_total{path="vfio"}', r.pins.vfio_pages);
  want.set('iommutrace_pinned_pages_total{path="iommufd"}', r.pins.iommufd_pages);
  want.set('iommutrace_unpinned_pages_total', r.pins.unpinned_pages);
  want.set('iommutrace_gup_pages_total{path="fast"}', r.gup.fast_pages);
  want.set('iommutrace_gup_pages_total{path="slow"}', r.gup.slow_pages);
  for (const g of r.groups) {
    want.set(`iommutrace_group_references_leaked{group="${g.group}"}`, g.leaked.length);
    want.set(`iommutrace_group_references_held{group="${g.group}"}`, g.held.length);
    want.set(`iommutrace_group_references_outstanding{group="${g.group}"}`, g.outstanding);
  }
  for (const [probe, p] of Object.entries(r.latency)) want.set(`iommutrace_probe_latency_seconds_count{probe="${probe}"}`, p.count);
  // Refused maps by call, errno and cause, as map_failures[] groups them (the dashboard's panels read these).
  for (const f of r.map_failures) sum(`iommutrace_map_failures_total{api="${f.api}",errno="${f.errno}",cause="${f.cause}"}`, f.count);
  // IO page faults per device, IOMMU driver and reason (the lab capture's fault workload on VT-d).
  for (const f of r.faults) {
    for (const [reason, n] of Object.entries(f.reasons)) sum(`iommutrace_iommu_faults_total{device="${f.device}",iommu_driver="${f.iommu_driver ?? 'unknown'}",reason="${reason}"}`, n);
  }
  want.set('iommutrace_iommu_fault_reports_dropped_total', r.events.fault_reports_dropped);
  want.set('iommutrace_events_total', r.events.total);
  want.set('iommutrace_lost_events_total', r.events.lost);
  return want;
}

// ---------------------------------------------------------------- processes and HTTP

async function until<T>(what: string, fn: () => Promise<T | undefined>, deadlineMs = DEADLINE_MS): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopChild(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(t);
  return code;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

interface Exporter {
  child: ChildProcess;
  address: string;
  stderr: () => string;
}

/** Starts `iommutrace export ARGS` and waits for it to say where it serves metrics. */
async function startExporter(args: string[]): Promise<Exporter> {
  const child = spawn(process.execPath, [CLI, 'export', '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const address = await until('the exporter to listen', async () => {
    if (child.exitCode !== null) throw new Error(`exporter exited ${child.exitCode}: ${err}`);
    return /metrics on http:\/\/([^/]+)\/metrics/.exec(err)?.[1];
  }, 30_000);
  return { child, address, stderr: () => err };
}

async function scrape(e: Exporter): Promise<Map<string, number>> {
  const r = await httpGet(`http://${e.address}/metrics`);
  assert.equal(r.status, 200);
  return parseExposition(r.body);
}

interface PromServer {
  url: string;
  child: ChildProcess;
}

async function startPrometheus(port: number, scrapeTarget: string): Promise<PromServer> {
  const dir = fs.mkdtempSync(path.join(tmp, 'prom-'));
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(
    config,
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: scrape', '    static_configs:', `      - targets: ['${scrapeTarget}']`, ''].join('\n'),
  );
  const log = fs.openSync(path.join(dir, 'prometheus.log'), 'w');
  const child = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver', '--log.level=warn'],
    { stdio: ['ignore', log, log] },
  );
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await until('Prometheus to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${fs.readFileSync(path.join(dir, 'prometheus.log'), 'utf8')}`);
    return (await httpGet(`${url}/-/ready`)).status === 200 ? true : undefined;
  });
  return { url, child };
}

/** PromQL over the HTTP API: result series as labels -> value. */
async function query(prom: PromServer, q: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  const r = await httpGet(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = JSON.parse(r.body) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
  return body.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
}

/** The expected series under a job selector, each compared; resolves with the mismatches (none when equal). */
async function mismatches(prom: PromServer, job: string, want: Map<string, number>): Promise<string[]> {
  const bad: string[] = [];
  for (const [key, v] of want) {
    const sel = key.includes('{') ? key.replace('{', `{job="${job}",`) : `${key}{job="${job}"}`;
    const got = await query(prom, `sum(${sel})`);
    const value = got[0]?.value;
    if (value !== v) bad.push(`${sel}: ${value} != ${v}`);
  }
  return bad;
}

// ---------------------------------------------------------------- the tests

test('scrape and remote write into a real Prometheus: PromQL gives the capture report\'s values', async (t) => {
  if (!need(t, fs.existsSync(PROMETHEUS), `${PROMETHEUS} is missing (Debian package prometheus; src/scripts/setup.sh installs it)`)) return;
  if (!need(t, fs.existsSync(BPF_OBJECT), `${path.relative(ROOT, BPF_OBJECT)} is missing (npm run build:bpf)`)) return;
  const { file, kind } = pickCapture();
  t.diagnostic(`using ${kind}`);
  const report = buildReport(file);
  const want = expectations(report);
  const promPort = await freePort();
  // The exporter starts first and pushes into a Prometheus that is not up yet: retries bring the values in.
  const exp = await startExporter(['--replay', file, '--speed', '0', '--interval', '500ms', '--remote-write', `http://127.0.0.1:${promPort}/api/v1/write`]);
  const prom = await startPrometheus(promPort, exp.address);

  for (const job of ['scrape', 'iommutrace']) {
    const how = job === 'scrape' ? 'scrape' : 'remote write';
    const left = await until(`${how} values to equal the report`, async () => {
      const bad = await mismatches(prom, job, want);
      if (bad.length) throw new Error(bad.slice(0, 5).join('; '));
      return bad;
    });
    assert.deepEqual(left, []);
    t.diagnostic(`${how}: ${want.size} series equal the report`);
  }

  // Histograms: bucket bounds are powers of two, so a PromQL quantile lies within a factor of two (plus the 12.5% buckets) of the report's.
  for (const [probe, p] of Object.entries(report.latency)) {
    if (p.count < 10) continue;
    const [q] = await query(prom, `histogram_quantile(0.5, sum by (le) (iommutrace_probe_latency_seconds_bucket{job="scrape",probe="${probe}"}))`);
    const ns = q.value * 1e9;
    assert.ok(ns >= p.p50_ns / 2.5 && ns <= p.p50_ns * 2.5, `${probe} p50: PromQL ${ns} ns, report ${p.p50_ns} ns`);
  }
  const attached = await query(prom, 'iommutrace_probe_attached{job="scrape"}');
  assert.equal(attached.length, report.probes.length);
  for (const p of report.probes) {
    const s = attached.find((a) => a.metric.probe === p.name);
    assert.equal(s?.value, p.status === 'attached' ? 1 : 0, p.name);
    assert.equal(s?.metric.mode, p.mode ?? 'none');
  }
  // Every query of the Grafana dashboard is valid PromQL for this Prometheus, and the DMA, latency and probe panels have data.
  const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'dashboards', 'grafana', 'iommutrace.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const expr = target.expr.replace(/\$__rate_interval/g, '5m').replace(/\$__range/g, '1h').replace(/\$(instance|device)/g, '.*');
      const result = await query(prom, expr);
      if (/DMA bytes|Map latency|Probe status/.test(panel.title) && /mapped_bytes|probe="iommu.map"\}|probe_attached/.test(expr) && report.dma.map_calls > 0) {
        assert.ok(result.length > 0, `dashboard "${panel.title}": ${expr} has data`);
      }

    }
  }
  const [failures] = await query(prom, 'iommutrace_export_failures_total{job="scrape",target="remote_write"}');
  t.diagnostic(`remote write failures while Prometheus was starting: ${failures?.value}`);
  assert.equal(await stopChild(exp.child), 0, exp.stderr());
  assert.match(exp.stderr(), /stopped by SIGTERM/);
});

// The fields of opentelemetry/proto/collector/metrics/v1 that the test reads.
const OTLP_PROTO = `
syntax = "proto3";
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Metric { string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; } }
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; } }
message HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; double sum = 5; repeated fixed64 bucket_counts = 6; repeated double explicit_bounds = 7; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
`;

interface OtlpPoint {
  attributes: { key: string; value: { stringValue?: string } }[];
  asDouble?: number;
  asInt?: number;
  count?: number;
}

test('OTLP/HTTP protobuf: a local receiver decodes the export and finds the report\'s values', async (t) => {
  if (!need(t, fs.existsSync(BPF_OBJECT), `${path.relative(ROOT, BPF_OBJECT)} is missing (npm run build:bpf)`)) return;
  const { file, kind } = pickCapture();
  t.diagnostic(`using ${kind}`);
  const report = buildReport(file);
  const Request = protobuf.parse(OTLP_PROTO).root.lookupType('ExportMetricsServiceRequest');
  let latest: Map<string, { sum?: { dataPoints: OtlpPoint[]; isMonotonic: boolean }; gauge?: { dataPoints: OtlpPoint[] }; histogram?: { dataPoints: OtlpPoint[] } }> | undefined;
  let resource: Record<string, string> = {};
  let requests = 0;
  let contentType = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      contentType = String(req.headers['content-type']);
      const msg = Request.toObject(Request.decode(body), { longs: Number, defaults: false }) as {
        resourceMetrics: { resource: { attributes: OtlpPoint['attributes'] }; scopeMetrics: { metrics: { name: string }[] }[] }[];
      };
      requests++;
      const rm = msg.resourceMetrics[0];
      resource = Object.fromEntries(rm.resource.attributes.map((a) => [a.key, a.value.stringValue ?? '']));
      latest = new Map(rm.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.name, m as never]));
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const exp = await startExporter(['--replay', file, '--speed', '0', '--interval', '300ms', '--otlp', `http://127.0.0.1:${port}/v1/metrics`]);
  const attr = (p: OtlpPoint, key: string) => p.attributes.find((a) => a.key === key)?.value.stringValue;
  const value = (p: OtlpPoint) => p.asDouble ?? p.asInt ?? 0;
  const sumOf = (name: string, key: string, label: string) =>
    (latest?.get(name)?.sum?.dataPoints ?? latest?.get(name)?.gauge?.dataPoints ?? []).filter((p) => attr(p, key) === label).reduce((s, p) => s + value(p), 0);

  await until('OTLP values to equal the report', async () => {
    if (!latest) return undefined;
    const bad: string[] = [];
    const check = (what: string, got: number, want: number) => got !== want && bad.push(`${what}: ${got} != ${want}`);
    const devices = new Map<string, { map: number; unmap: number }>();
    for (const d of report.devices) {
      const v = devices.get(d.device) ?? { map: 0, unmap: 0 };
      devices.set(d.device, { map: v.map + d.map_bytes, unmap: v.unmap + d.unmap_bytes });
    }
    for (const [dev, v] of devices) {
      check(`mapped ${dev}`, sumOf('iommutrace_dma_mapped_bytes', 'device', dev), v.map);
      check(`unmapped ${dev}`, sumOf('iommutrace_dma_unmapped_bytes', 'device', dev), v.unmap);
    }
    check('vfio pages', sumOf('iommutrace_pinned_pages', 'path', 'vfio'), report.pins.vfio_pages);
    check('iommufd pages', sumOf('iommutrace_pinned_pages', 'path', 'iommufd'), report.pins.iommufd_pages);
    for (const g of report.groups) check(`leaked group ${g.group}`, sumOf('iommutrace_group_references_leaked', 'group', String(g.group)), g.leaked.length);
    for (const [probe, p] of Object.entries(report.latency)) {
      const h = latest.get('iommutrace_probe_latency_seconds')?.histogram?.dataPoints.find((d) => attr(d, 'probe') === probe);
      check(`latency count ${probe}`, h?.count ?? 0, p.count);
    }
    if (bad.length) throw new Error(bad.slice(0, 5).join('; '));
    return true;
  });
  assert.equal(latest!.get('iommutrace_dma_mapped_bytes')?.sum?.isMonotonic, true);
  assert.equal(contentType, 'application/x-protobuf');
  assert.equal(resource['service.name'], 'iommutrace');
  t.diagnostic(`OTLP: ${requests} requests decoded; values equal the report`);
  assert.equal(await stopChild(exp.child), 0, exp.stderr());
});

test('remote write answering 500 and an OTLP receiver that hangs: the agent stays up, failures rise, the queue stays bounded', async (t) => {
  if (!need(t, fs.existsSync(BPF_OBJECT), `${path.relative(ROOT, BPF_OBJECT)} is missing (npm run build:bpf)`)) return;
  const { file } = pickCapture();
  const times: number[] = [];
  const failing = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      times.push(Date.now());
      res.writeHead(500).end('down for maintenance\n');
    });
  });
  const hanging = http.createServer((req) => req.resume()); // never answers
  servers.push(failing, hanging);
  for (const s of [failing, hanging]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s: http.Server) => (s.address() as net.AddressInfo).port;
  const maxQueue = 3000;
  const exp = await startExporter([
    '--replay', file, '--speed', '0', '--interval', '200ms', '--timeout', '500ms', '--max-queue-samples', String(maxQueue),
    '--remote-write', `http://127.0.0.1:${port(failing)}/api/v1/write`,
    '--otlp', `http://127.0.0.1:${port(hanging)}/v1/metrics`,
  ]);
  const key = (name: string, target: string) => `${name}{target="${target}"}`;
  const first = await until('failures on both targets', async () => {
    const m = await scrape(exp);
    return (m.get(key('iommutrace_export_failures_total', 'remote_write')) ?? 0) >= 2 && (m.get(key('iommutrace_export_failures_total', 'otlp')) ?? 0) >= 1 ? m : undefined;
  });
  const rss0 = first.get('process_resident_memory_bytes')!;
  // Keep the agent under this for a while: it keeps answering scrapes, and its failure counters keep rising.
  let last = first;
  let maxQueued = 0;
  let scrapes = 0;
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    const t0 = Date.now();
    last = await scrape(exp);
    assert.ok(Date.now() - t0 < 2000, 'a scrape answers promptly while the targets fail');
    scrapes++;
    for (const target of ['remote_write', 'otlp']) maxQueued = Math.max(maxQueued, last.get(key('iommutrace_export_queue_samples', target)) ?? 0);
    await new Promise((r) => setTimeout(r, 200));
  }
  const rw = (m: Map<string, number>, name: string) => m.get(key(name, 'remote_write')) ?? 0;
  const ot = (m: Map<string, number>, name: string) => m.get(key(name, 'otlp')) ?? 0;
  assert.ok(rw(last, 'iommutrace_export_failures_total') > rw(first, 'iommutrace_export_failures_total'), 'remote-write failures rise');
  assert.ok(ot(last, 'iommutrace_export_failures_total') > ot(first, 'iommutrace_export_failures_total'), 'OTLP failures rise');
  assert.ok(maxQueued <= maxQueue, `queue ${maxQueued} <= ${maxQueue}`);
  assert.ok(rw(last, 'iommutrace_export_dropped_samples_total') > 0, 'remote write drops samples once its queue is full');
  assert.ok(ot(last, 'iommutrace_export_dropped_samples_total') > 0, 'OTLP drops samples once its queue is full');
  assert.equal(rw(last, 'iommutrace_export_sent_samples_total'), 0);
  // Backoff: the gaps between attempts grow (0.5 s, 1 s, 2 s, ... with +-20% jitter).
  const gaps = times.slice(1).map((x, i) => x - times[i]);
  assert.ok(gaps.length >= 3 && gaps[gaps.length - 1] > gaps[0] * 2, `retry gaps grow: ${gaps.join(', ')} ms`);
  const rss1 = last.get('process_resident_memory_bytes')!;
  t.diagnostic(`${scrapes} scrapes answered; remote-write attempts ${times.length}, gaps ${gaps.join(', ')} ms; failures rw ${rw(last, 'iommutrace_export_failures_total')} otlp ${ot(last, 'iommutrace_export_failures_total')}; dropped rw ${rw(last, 'iommutrace_export_dropped_samples_total')} otlp ${ot(last, 'iommutrace_export_dropped_samples_total')}; max queue ${maxQueued}; RSS ${(rss0 / 2 ** 20).toFixed(1)} -> ${(rss1 / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(rss1 - rss0 < 64 * 2 ** 20, `RSS grew ${(rss1 - rss0) / 2 ** 20} MiB`);
  const t0 = Date.now();
  assert.equal(await stopChild(exp.child), 0, exp.stderr());
  assert.ok(Date.now() - t0 < 10_000, 'stops promptly with a request hanging');
});

test('live on this kernel: probe status per probe with its mode, and BPF run statistics while kernel.bpf_stats_enabled is on', async (t) => {
  if (!need(t, isRoot(), 'needs root for live export')) return;
  const sysctl = '/proc/sys/kernel/bpf_stats_enabled';
  const before = fs.readFileSync(sysctl, 'utf8').trim();
  fs.writeFileSync(sysctl, '1');
  try {
    const exp = await startExporter([]);
    const m = await scrape(exp);
    assert.equal(m.get(`iommutrace_source_info{kind="live",host="${os.hostname()}",kernel="${os.release()}"}`), 1);
    const attached = [...m].filter(([k, v]) => k.startsWith('iommutrace_probe_attached{') && v === 1).map(([k]) => k);
    assert.ok(attached.length > 0, 'at least one probe attached on this kernel');
    for (const k of attached) {
      const probe = /probe="([^"]+)"/.exec(k)![1];
      assert.match(k, /mode="(fentry|fexit|kprobe|kretprobe|tracepoint|tp_btf|raw_tp)"/);
      assert.ok([...m.keys()].some((x) => x.startsWith(`iommutrace_bpf_prog_runs_total{probe="${probe}",`)), `run count of ${probe}'s programs`);
    }
    t.diagnostic(`${attached.length} probes attached live; BPF run statistics exported for each`);
    assert.equal(await stopChild(exp.child), 0, exp.stderr());
  } finally {
    fs.writeFileSync(sysctl, before);
  }
});

test('export refuses bad flags and missing privileges in one line', () => {
  const cases: [string[], RegExp, string | undefined][] = [
    [['export', '--listen', 'nowhere'], /--listen takes HOST:PORT/, undefined],
    [['export', '--remote-write', 'ftp://x/'], /--remote-write takes an http\(s\) URL/, undefined],
    [['export', '--listen', 'off'], /nothing to export to/, undefined],
    [['export', '--interval', 'soon'], /--interval: invalid duration/, undefined],
    [['export', '--replay', path.join(tmp, 'missing.iotrace')], /missing\.iotrace/, undefined],
    [['export', '--listen', '127.0.0.1:0', '--probes', 'nope'], /unknown probe nope/, undefined],
    [['export', '--listen', '127.0.0.1:0', '--probes', 'vfio.pin:sideways'], /the mode after the colon is one of/, undefined],
    [['export', '--probes', 'iommu.map', '--replay', path.join(tmp, 'missing.iotrace')], /--probes picks what to attach live/, undefined],
    [['export'], /CAP_BPF|root/i, 'nobody'],
  ];
  for (const [args, re, asUser] of cases) {
    if (asUser && !isRoot()) continue;
    const r = cli(args, { asUser });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!hasStackTrace(r.stderr));
  }
});
