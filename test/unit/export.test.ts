import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import * as protobuf from 'protobufjs';
import { uncompress } from 'snappyjs';
import { PerDevice } from '../../src/aggregate/per-device';
import type { AttachEvent } from '../../src/events/types';
import { Aggregator } from '../../src/aggregate/engine';
import { Histogram } from '../../src/aggregate/loglinear';
import { parseListen } from '../../src/commands/export';
import { parseProgFdinfo } from '../../src/export/bpf-stats';
import { LE_SECONDS, MIN_EXP, toExp2 } from '../../src/export/histogram';
import { buildFamilies, Family, sampleCount } from '../../src/export/model';
import { otlpName, toResourceMetrics } from '../../src/export/otlp';
import { RetryQueue, SendResult } from '../../src/export/queue';
import { classify, encodeWriteRequest } from '../../src/export/remote-write';
import { flatten } from '../../src/export/series';
import { RawEvent } from '../../src/events/types';
import { ROOT } from '../helpers';

const hdr = (ts: number, probe: string) => ({ ts_ns: ts, pid: 7, tid: 7, type: 0, ret: 0, comm: 'qemu', probe });
const attach = (ts: number, dev: string, domain: bigint, group: number): RawEvent =>
  ({ kind: 'attach', ...hdr(ts, 'iommu.attach_dev'), lat_ns: 4000, domain, group: 0x9000n + BigInt(group), domain_type: 1, group_id: group, dev_name: dev, driver: 'vfio-pci' }) as RawEvent;
const dma = (ts: number, probe: string, domain: bigint, bytes: number, lat = 500): RawEvent =>
  ({ kind: 'dma', ...hdr(ts, probe), lat_ns: lat, domain, iova: 0n, size: bytes, done: bytes, group_id: -1, pad: 0 }) as RawEvent;

function fed(): { a: Aggregator } {
  const a = new Aggregator({ attached: new Set(['iommu.attach_dev', 'iommu.map', 'iommu.unmap']), symbolize: (x) => '0x' + x.toString(16), leakAgeNs: 0 });
  const events = [
    attach(1, '0000:00:03.0', 0xa000n, 3),
    dma(2, 'iommu.map', 0xa000n, 4096, 300),
    dma(3, 'iommu.map', 0xa000n, 8192, 700),
    dma(4, 'iommu.unmap', 0xa000n, 4096),
    dma(5, 'iommu.map', 0xbad0n, 100),
    dma(6, 'iommu.map', 0xbad1n, 23),
  ];
  for (const e of events) a.add(e);
  return { a };
}

function families(): Family[] {
  const { a } = fed();
  return buildFamilies({
    aggregator: a,
    nowNs: 10,
    probes: [
      { name: 'iommu.map', target: 'iommu_map', mode: 'fexit', status: 'attached', reason: null },
      { name: 'dirty.walk', target: null, mode: null, status: 'unavailable', reason: 'not in this kernel' },
    ],
    lost: 4,
    source: { kind: 'replay', host: 'h', kernel: '6.1' },
  });
}

const byName = (fs: Family[], name: string) => fs.find((f) => f.name === name)!;

test('log-linear buckets fold exactly into power-of-two le bounds: le=2^j counts the values below 2^j', () => {
  const h = new Histogram();
  const values: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const v = Math.floor(2 ** ((i * 7919) % 3000 / 100)); // 1 ns to about 1 s, every scale
    values.push(v);
    h.add(v);
  }
  for (const v of [15, 16, 17, 31, 32, 33, 1023, 1024]) {
    values.push(v);
    h.add(v);
  }
  const e = toExp2(h);
  assert.equal(e.count, values.length);
  LE_SECONDS.forEach((le, i) => {
    const bound = 2 ** (MIN_EXP + i);
    assert.ok(Math.abs(le * 1e9 - bound) < 1e-6, `bound ${i}`);
    assert.equal(e.cumulative[i], values.filter((v) => v < bound).length, `le=${bound} ns`);
  });
  assert.equal(e.sumSeconds, values.reduce((s, v) => s + v, 0) / 1e9);
});

test('the model: bytes per device, DMA into unknown domains summed under "unknown", no addresses in any label', () => {
  const fs = families();
  const mapped = byName(fs, 'iommutrace_dma_mapped_bytes_total');
  assert.equal(mapped.type, 'counter');
  const m = new Map((mapped.samples as { labels: Record<string, string>; value: number }[]).map((s) => [s.labels.device, s.value]));
  assert.deepEqual(Object.fromEntries(m), { '0000:00:03.0': 12288, unknown: 123 });
  const lat = byName(fs, 'iommutrace_device_latency_seconds');
  assert.equal(lat.type, 'histogram');
  const devs = lat.samples.map((s) => `${s.labels.probe}/${s.labels.device}`).sort();
  assert.deepEqual(devs, ['iommu.attach_dev/0000:00:03.0', 'iommu.map/0000:00:03.0', 'iommu.map/unknown', 'iommu.unmap/0000:00:03.0']);
  const mapLat = lat.samples.find((s) => s.labels.probe === 'iommu.map' && s.labels.device === 'unknown')!;
  assert.equal((mapLat as { count: number }).count, 2);
  for (const s of flatten(fs)) for (const v of Object.values(s.labels)) assert.ok(!/0x[0-9a-f]/i.test(v), `${s.name} ${v}`);
  const attached = byName(fs, 'iommutrace_probe_attached').samples;
  assert.deepEqual(attached, [
    { labels: { probe: 'iommu.map', mode: 'fexit' }, value: 1 },
    { labels: { probe: 'dirty.walk', mode: 'none' }, value: 0 },
  ]);
  assert.deepEqual(byName(fs, 'iommutrace_lost_events_total').samples, [{ labels: {}, value: 4 }]);
  assert.deepEqual(byName(fs, 'iommutrace_kernel_sum_overflow_total').samples, [{ labels: {}, value: 0 }], 'shown even at 0 (and for replays)');
  assert.equal(fs.some((f) => f.name.startsWith('iommutrace_bpf_')), false, 'no BPF run stats unless the kernel keeps them');
  assert.deepEqual(byName(fs, 'iommutrace_kernel_map_entries').samples, [], 'no kernel tables for a replay');
  assert.equal(sampleCount(fs), flatten(fs).length);
});

test('remote write: a snappy-compressed WriteRequest with sorted labels, __name__, job and one timestamp', () => {
  const fs = families();
  const { body, samples } = encodeWriteRequest(fs, { job: 'iommutrace', instance: 'h' }, 1_800_000_000_123);
  const W = protobuf.loadSync(path.join(ROOT, 'src', 'export', 'remote-write.proto')).lookupType('prometheus.WriteRequest');
  const req = W.toObject(W.decode(uncompress(body)), { longs: Number }) as { timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[] };
  assert.equal(req.timeseries.length, samples);
  assert.equal(samples, flatten(fs).length);
  for (const ts of req.timeseries) {
    const names = ts.labels.map((l) => l.name);
    assert.deepEqual(names, [...names].sort());
    assert.ok(names.includes('__name__') && names.includes('job') && names.includes('instance'));
    assert.equal(ts.samples.length, 1);
    assert.equal(ts.samples[0].timestamp, 1_800_000_000_123);
  }
  const name = (ts: (typeof req.timeseries)[number]) => ts.labels.find((l) => l.name === '__name__')!.value;
  const buckets = req.timeseries.filter((ts) => name(ts) === 'iommutrace_probe_latency_seconds_bucket' && ts.labels.some((l) => l.value === 'iommu.map'));
  assert.equal(buckets.length, LE_SECONDS.length + 1);
  assert.equal(buckets[buckets.length - 1].labels.find((l) => l.name === 'le')!.value, '+Inf');
  assert.equal(buckets[buckets.length - 1].samples[0].value, 4);
  assert.deepEqual([200, 204, 400, 413, 429, 500, 503].map(classify), ['ok', 'ok', 'drop', 'drop', 'retry', 'retry', 'retry']);
});

test('OTLP: cumulative monotonic sums without _total, histograms with the same bounds and per-bucket counts', () => {
  const fs = families();
  const rm = toResourceMetrics(fs, { 'service.name': 'iommutrace' }, 1000, 2000);
  const metrics = rm.scopeMetrics[0].metrics;
  assert.equal(metrics.length, fs.length);
  const sum = metrics.find((m) => m.descriptor.name === 'iommutrace_dma_mapped_bytes')!;
  assert.equal(sum.descriptor.unit, 'By');
  assert.equal((sum as { isMonotonic: boolean }).isMonotonic, true);
  const hist = metrics.find((m) => m.descriptor.name === 'iommutrace_probe_latency_seconds')!;
  for (const p of hist.dataPoints) {
    const v = p.value as { buckets: { boundaries: number[]; counts: number[] }; count: number };
    assert.deepEqual(v.buckets.boundaries, [...LE_SECONDS]);
    assert.equal(v.buckets.counts.length, LE_SECONDS.length + 1);
    assert.equal(v.buckets.counts.reduce((s, n) => s + n, 0), v.count);
  }
  assert.equal(otlpName(byName(fs, 'iommutrace_group_references_outstanding')), 'iommutrace_group_references_outstanding');
  assert.deepEqual(hist.dataPoints[0].startTime, [1, 0]);
  assert.deepEqual(hist.dataPoints[0].endTime, [2, 0]);
});

/** A send that answers from a script, recording what it was given. */
function scripted(answers: SendResult[]): { send: (item: number) => Promise<SendResult>; seen: number[] } {
  const seen: number[] = [];
  return { seen, send: async (item) => (seen.push(item), answers.shift() ?? 'ok') };
}

const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

test('retry queue: retries with backoff, then sends in order; a refused batch is dropped and counted', async () => {
  const s = scripted(['retry', 'retry', 'ok', 'drop', 'ok']);
  const q = new RetryQueue<number>('t', s.send, { maxSamples: 100, initialBackoffMs: 10, maxBackoffMs: 40 });
  q.push(1, 10);
  q.push(2, 20);
  q.push(3, 30);
  for (let i = 0; i < 50 && q.queuedSamples > 0; i++) await settle(10);
  assert.deepEqual(s.seen, [1, 1, 1, 2, 3]);
  assert.equal(q.failures, 3);
  assert.equal(q.sentSamples, 40);
  assert.equal(q.droppedSamples, 20);
  assert.equal(q.queuedSamples, 0);
});

test('retry queue: bounded; the oldest waiting batches are dropped, never the one in flight', async () => {
  let release: (r: SendResult) => void = () => {};
  const seen: number[] = [];
  const q = new RetryQueue<number>('t', (item) => (seen.push(item), new Promise<SendResult>((r) => (release = r))), { maxSamples: 25 });
  for (let i = 1; i <= 6; i++) q.push(i, 10);
  assert.ok(q.queuedSamples <= 25, 'the batch in flight counts against the bound');
  assert.deepEqual(seen, [1]);
  assert.equal(q.droppedSamples, 40); // 2 to 5 went; 1 is in flight, 6 waits
  release('ok');
  await settle();
  release('ok');
  await settle();
  assert.deepEqual(seen, [1, 6]);
  assert.equal(q.sentSamples, 20);
  assert.equal(q.queuedSamples, 0);
});

test('retry queue: close does not wait for a failing target and counts what it gives up', async () => {
  const q = new RetryQueue<number>('t', async () => 'retry', { maxSamples: 100, initialBackoffMs: 60_000 });
  q.push(1, 10);
  await settle();
  q.push(2, 5);
  const t0 = Date.now();
  await q.close(5000);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(q.droppedSamples, 15);
  assert.equal(q.queuedSamples, 0);
  q.push(3, 1);
  assert.equal(q.queuedSamples, 0, 'a closed queue takes nothing');
});

test('device latency: bounded number of (probe, device) series, the rest counted', () => {
  const a = new Aggregator({ attached: new Set(['iommu.attach_dev']), symbolize: () => '', leakAgeNs: 0 });
  const dl = new PerDevice(a.devices, new Set(['iommu.attach_dev']), 3);
  for (let i = 0; i < 5; i++) {
    const e = attach(i, `0000:00:0${i}.0`, BigInt(0x1000 * (i + 1)), i);
    a.add(e);
    dl.attach(e as AttachEvent);
  }
  assert.equal(dl.byProbe.get('iommu.attach_dev')!.size, 3);
  assert.equal(dl.overflow, 2);
});

test('BPF program run statistics come from fdinfo; --listen takes HOST:PORT or [V6]:PORT', () => {
  const fdinfo = 'pos:\t0\nflags:\t02000002\nprog_type:\t26\nprog_jited:\t1\nrun_time_ns:\t123456\nrun_cnt:\t42\nverified_insns:\t100\n';
  assert.deepEqual(parseProgFdinfo(fdinfo), { runCount: 42, runTimeNs: 123456 });
  assert.equal(parseProgFdinfo('pos:\t0\n'), undefined);
  assert.deepEqual(parseListen('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['9464', ':9464', '127.0.0.1', '127.0.0.1:99999', '::1:9464']) assert.throws(() => parseListen(bad), /HOST:PORT/, bad);
});

test('the Grafana dashboard: a datasource variable, every panel on it, every metric it names exported', () => {
  const d = JSON.parse(require('node:fs').readFileSync(path.join(ROOT, 'dashboards', 'grafana', 'iommutrace.json'), 'utf8'));
  assert.ok(d.templating.list.some((v: { type: string; name: string }) => v.type === 'datasource' && v.name === 'datasource'));
  const exported = new Set(families().flatMap((f) => (f.type === 'histogram' ? ['_bucket', '_sum', '_count'].map((x) => f.name + x) : [f.name])));
  for (const n of ['iommutrace_bpf_prog_run_seconds_total', 'iommutrace_export_failures_total', 'iommutrace_export_dropped_samples_total', 'iommutrace_export_queue_samples']) exported.add(n);
  // Only with --vm-label.
  for (const n of ['iommutrace_vm_dma_mapped_bytes_total', 'iommutrace_vm_dma_unmapped_bytes_total', 'iommutrace_vm_pinned_pages']) exported.add(n);
  let queries = 0;
  for (const p of d.panels) {
    if (p.type === 'row') continue;
    assert.equal(p.datasource.uid, '${datasource}', p.title);
    for (const t of p.targets) {
      queries++;
      for (const name of t.expr.match(/iommutrace_[a-z_]+/g)) assert.ok(exported.has(name), `${p.title}: ${name}`);
    }
  }
  assert.ok(queries >= 10);
});

test('live in aggregated mode: how full the kernel tables are, by map, against their capacity', () => {
  const { a } = fed();
  const fs = buildFamilies({
    aggregator: a, nowNs: 10, probes: [], lost: 0, source: { kind: 'live', host: 'h', kernel: '6.1' },
    kernelMaps: [
      { map: 'it_agg', entries: 12, maxEntries: 4096 },
      { map: 'it_hist', entries: 30, maxEntries: 2048, domains: ['0xffff888012340000'] },
    ],
  });
  assert.deepEqual(byName(fs, 'iommutrace_kernel_map_entries').samples, [{ labels: { map: 'it_agg' }, value: 12 }, { labels: { map: 'it_hist' }, value: 30 }]);
  assert.deepEqual(byName(fs, 'iommutrace_kernel_map_max_entries').samples, [{ labels: { map: 'it_agg' }, value: 4096 }, { labels: { map: 'it_hist' }, value: 2048 }]);
  for (const s of flatten(fs)) for (const v of Object.values(s.labels)) assert.ok(!/0x[0-9a-f]/i.test(v), 'domains stay out of the labels');
});
