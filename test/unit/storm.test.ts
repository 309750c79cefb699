/**
 * Bounded memory under a storm: a million distinct stacks and a million outstanding
 * group references go through the aggregator. The ledger keeps what its bounds allow
 * (65,536 stacks, 262,144 references), counts exactly what it had to drop, the report
 * shows it, and resident memory after the bound is reached stays flat.
 *
 * Each storm runs in a child process of its own (this file, with STORM set), so its
 * RSS is not mixed with the test runner's or another storm's.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { Report } from '../../src/aggregate/report';
import { GroupRefEvent, RawEvent } from '../../src/events/types';
import { renderReport } from '../../src/report/text';

const MILLION = 1_000_000;
const MAX_REFS = 262_144;
const MAX_STACKS = 65_536;
/** Resident growth allowed between the bound being reached and the millionth event. */
const RSS_BOUND = 24 << 20;
const HEAP_BOUND = 4 << 20;

type Storm = 'stacks' | 'refs' | 'unbounded';

interface Measured {
  storm: Storm;
  /** After the bound was first reached (after a full GC). */
  rssAtCap: number;
  heapAtCap: number;
  /** After the millionth event (after a full GC). */
  rssAtEnd: number;
  heapAtEnd: number;
  overflow: { group_refs: number; stacks: number };
  gets: number;
  puts: number;
  outstanding: number;
  text: string;
}

const GROUPS = [0xffff888100010000n, 0xffff888100020000n, 0xffff888100030000n, 0xffff888100040000n];

/** A reference event with a stack no other event has: the i-th return address differs. */
function refEvent(i: number, probe: 'iommu.group_get' | 'iommu.group_put'): RawEvent {
  const e: GroupRefEvent = {
    kind: 'group_ref',
    probe,
    ts_ns: 1_000 + i,
    pid: 4242,
    tid: 4242 + (i % 8),
    type: 0,
    ret: 0,
    comm: 'storm',
    group: GROUPS[i % GROUPS.length],
    group_id: 10 + (i % GROUPS.length),
    nr_frames: 4,
    dev_name: '0000:00:03.0',
    stack: [0xffffffff81000010n, 0xffffffffc0000000n + BigInt(i) * 16n, 0xffffffff81200000n, 0xffffffff81300000n],
  } as unknown as GroupRefEvent;
  return e;
}

function measure(): { rss: number; heap: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  // The ledger's columns are typed arrays, whose bytes V8 counts outside its heap.
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
}

function runStorm(storm: Storm): Measured {
  const a = new Aggregator({
    attached: new Set(['iommu.group_get', 'iommu.group_put']),
    symbolize: (x) => '0x' + x.toString(16),
    // Nothing is old enough to be listed: the storm is about what is kept, not printed.
    leakAgeNs: Number.MAX_SAFE_INTEGER,
    limits: storm === 'unbounded' ? { maxOutstanding: Infinity, maxStacks: Infinity } : undefined,
  });
  // stacks: a get and its put per event pair, so nothing stays outstanding, and a new
  // stack each time; refs and unbounded: gets only, each with a new stack.
  const capAt = storm === 'stacks' ? MAX_STACKS : MAX_REFS;
  let atCap: { rss: number; heap: number } | undefined;
  for (let i = 0; i < MILLION; i++) {
    a.add(refEvent(i, 'iommu.group_get'));
    if (storm === 'stacks') a.add(refEvent(i, 'iommu.group_put'));
    if (i + 1 === capAt) atCap = measure();
  }
  const atEnd = measure();
  const summary = a.summary(2 * MILLION);
  const report: Report = {
    format: 'iommutrace-report/1',
    capture: { started_at: '2026-11-21T15:00:00Z', duration_ns: 2 * MILLION, host: 'storm', kernel: { release: '6.1.0-storm', btf: true }, cut: false, damage: null, stop_reason: 'duration' },
    probes: [],
    not_watched: [],
    events: { total: a.total, lost: 0, fault_reports_dropped: 0 },
    ...summary,
  };
  return {
    storm,
    rssAtCap: atCap!.rss,
    heapAtCap: atCap!.heap,
    rssAtEnd: atEnd.rss,
    heapAtEnd: atEnd.heap,
    overflow: summary.overflow,
    gets: summary.groups.reduce((n, g) => n + g.gets, 0),
    puts: summary.groups.reduce((n, g) => n + g.puts, 0),
    outstanding: summary.groups.reduce((n, g) => n + g.outstanding, 0),
    text: renderReport(report),
  };
}

function inChild(storm: Storm): Measured {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename], {
    env: { ...process.env, STORM: storm },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 10 * 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"storm"'));
  assert.ok(line, `no result from the ${storm} storm: ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`);
  return JSON.parse(line) as Measured;
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

if (process.env.STORM) {
  process.stdout.write(JSON.stringify(runStorm(process.env.STORM as Storm)) + '\n');
} else {
  test('a million distinct stacks: 65,536 kept, every other one counted, resident memory flat', () => {
    const m = inChild('stacks');
    console.log(`stacks: RSS ${mib(m.rssAtCap)} at the bound, ${mib(m.rssAtEnd)} after 1M; heap ${mib(m.heapAtCap)} -> ${mib(m.heapAtEnd)}`);
    assert.equal(m.gets, MILLION);
    assert.equal(m.puts, MILLION);
    assert.equal(m.outstanding, 0);
    assert.equal(m.overflow.stacks, MILLION - MAX_STACKS);
    assert.equal(m.overflow.group_refs, 0);
    assert.match(m.text, new RegExp(`${(MILLION - MAX_STACKS).toLocaleString('en-US')} stacks not kept`));
    assert.ok(m.rssAtEnd - m.rssAtCap < RSS_BOUND, `RSS grew ${mib(m.rssAtEnd - m.rssAtCap)} after the bound`);
    assert.ok(m.heapAtEnd - m.heapAtCap < HEAP_BOUND, `heap grew ${mib(m.heapAtEnd - m.heapAtCap)} after the bound`);
  });

  test('a million outstanding references: 262,144 kept, the rest counted, gets and outstanding exact, resident memory flat', () => {
    const m = inChild('refs');
    console.log(`refs: RSS ${mib(m.rssAtCap)} at the bound, ${mib(m.rssAtEnd)} after 1M; heap ${mib(m.heapAtCap)} -> ${mib(m.heapAtEnd)}`);
    assert.equal(m.gets, MILLION);
    assert.equal(m.puts, 0);
    assert.equal(m.outstanding, MILLION, 'outstanding stays exact past the bound');
    assert.equal(m.overflow.group_refs, MILLION - MAX_REFS);
    // Only kept references intern their stack: 262,144 distinct ones into 65,536 places.
    assert.equal(m.overflow.stacks, MAX_REFS - MAX_STACKS);
    assert.match(m.text, new RegExp(`${(MILLION - MAX_REFS).toLocaleString('en-US')} outstanding references forgotten`));
    assert.ok(m.rssAtEnd - m.rssAtCap < RSS_BOUND, `RSS grew ${mib(m.rssAtEnd - m.rssAtCap)} after the bound`);
    assert.ok(m.heapAtEnd - m.heapAtCap < HEAP_BOUND, `heap grew ${mib(m.heapAtEnd - m.heapAtCap)} after the bound`);
  });

  test('the measurement sees growth: the same storm without bounds grows far past the bound', () => {
    const m = inChild('unbounded');
    console.log(`unbounded: RSS ${mib(m.rssAtCap)} at 262,144, ${mib(m.rssAtEnd)} after 1M; heap ${mib(m.heapAtCap)} -> ${mib(m.heapAtEnd)}`);
    assert.equal(m.overflow.group_refs, 0);
    assert.equal(m.overflow.stacks, 0);
    assert.ok(m.heapAtEnd - m.heapAtCap > 8 * HEAP_BOUND, `heap grew only ${mib(m.heapAtEnd - m.heapAtCap)}: the bounds above would not catch a leak`);
    assert.ok(m.rssAtEnd - m.rssAtCap > 2 * RSS_BOUND, `RSS grew only ${mib(m.rssAtEnd - m.rssAtCap)}`);
  });
}
