import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { parseFaultLine } from '../../src/aggregate/fault-lines';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { AttachEvent, FaultLogEvent, IommuTpEvent, RawEvent } from '../../src/events/types';
import { buildFamilies } from '../../src/export/model';
import { buildReport } from '../../src/report/build';
import { renderReport } from '../../src/report/text';
import { describeEvent } from '../../src/tui/eventlog';
import { BPF_OBJECT } from '../helpers';

/** Lines as Debian 6.1 and 6.12 print them (drivers/iommu/intel/dmar.c), seen in the lab. */
const READ = (iova: string) => `DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x${iova} [fault reason 0x06] PTE Read access is not set`;
const WRITE_PASID = 'DMAR: [DMA Write PASID 0x2] Request device [3b:00.1] fault addr 0x7f0000 [fault reason 0x05] PTE Write access is not set';
const INTR = 'DMAR: [INTR-REMAP] Request device [00:1f.0] fault index 0x4 [fault reason 0x25] Blocked a compatibility format interrupt request';
const SUPPRESSED = 'dmar_fault: 7 callbacks suppressed';

test('VT-d fault lines: device from the requester id, address, direction, reason; the limiter\'s count; anything else is no fault', () => {
  assert.deepEqual(parseFaultLine(READ('dead0000')), { kind: 'fault', iommu_driver: 'intel-iommu', device: '0000:00:03.0', iova: 0xdead0000n, write: false, reason: '0x06', interrupt: false });
  assert.deepEqual(parseFaultLine(WRITE_PASID), { kind: 'fault', iommu_driver: 'intel-iommu', device: '0000:3b:00.1', iova: 0x7f0000n, write: true, reason: '0x05', interrupt: false });
  assert.deepEqual(parseFaultLine(INTR), { kind: 'fault', iommu_driver: 'intel-iommu', device: '0000:00:1f.0', iova: 4n, write: true, reason: '0x25', interrupt: true });
  assert.deepEqual(parseFaultLine(SUPPRESSED), { kind: 'suppressed', iommu_driver: 'intel-iommu', count: 7 });
  for (const other of [
    'DMAR: DRHD: handling fault status reg 2',
    'DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0xdead0000', // cut before the reason
    'DMAR: Host address width 39',
    'some_function: 3 callbacks suppressed',
    'vfio-pci 0000:00:03.0: AMD-Vi: Event logged [IO_PAGE_FAULT domain=0x0002 address=0xdead0000 flags=0x0000]',
    '',
  ]) assert.equal(parseFaultLine(other), null, other);
});

const DEV = '0000:00:03.0';

function attach(pid: number, ts: number): AttachEvent {
  return {
    kind: 'attach', probe: 'iommu.attach_group', ts_ns: ts, pid, tid: pid, comm: 'fault', ret: 0, lat_ns: 1000,
    domain: 0xffff888000001000n, group: 0xffff888000002000n, domain_type: 1, group_id: 7, dev_name: DEV, driver: 'vfio-pci',
  } as AttachEvent;
}

function logLine(text: string, ts: number): FaultLogEvent {
  return { kind: 'fault_log', probe: 'iommu.fault_log', ts_ns: ts, pid: 0, tid: 0, comm: 'swapper/0', ret: 0, len: text.length, pad: 0, text } as FaultLogEvent;
}

function tpFault(dev: string, iova: bigint, flags: number, ts: number): IommuTpEvent {
  return { kind: 'iommu_tp', probe: 'iommu.io_page_fault', ts_ns: ts, pid: 0, tid: 0, comm: 'irq/25-AMD-Vi', ret: 0, iova, group_id: -1, flags, dev_name: dev, driver: 'nvme' } as IommuTpEvent;
}

/** A VFIO user attaches 00:03.0, which faults three times; the limiter drops 7 reports; an AMD-Vi device faults once, writing. */
function events(): RawEvent[] {
  return [
    attach(700, 1e9),
    logLine('DMAR: DRHD: handling fault status reg 2', 2e9),
    logLine(READ('dead000000'), 2e9 + 1),
    logLine(READ('dead001000'), 3e9),
    logLine(SUPPRESSED, 9e9),
    logLine(READ('dead005000'), 9e9 + 1),
    tpFault('0000:41:00.0', 0x1234000n, 1, 9.5e9),
  ] as RawEvent[];
}

const FACTS = (pid: number) => (pid === 700 ? { pid, vm: 'vm-alpha', cgroup: null } : undefined);

function aggregate(list: RawEvent[]): Aggregator {
  const a = new Aggregator({ attached: new Set(['iommu.attach_group', 'iommu.fault_log', 'iommu.io_page_fault']), symbolize: () => '', leakAgeNs: 0, processFacts: FACTS });
  for (const e of list) a.add(e);
  return a;
}

test('faults[] per device: counts, reads and writes, reasons, times, the newest IOVAs, the process and VM that attached it', () => {
  const a = aggregate(events());
  const s = a.summary(10e9);
  assert.deepEqual(s.faults, [
    {
      device: DEV, iommu_driver: 'intel-iommu', count: 3, reads: 3, writes: 0, reasons: { '0x06': 3 }, first_ns: 2e9 + 1, last_ns: 9e9 + 1,
      last: [
        { iova: '0xdead000000', write: false, reason: '0x06', ts_ns: 2e9 + 1 },
        { iova: '0xdead001000', write: false, reason: '0x06', ts_ns: 3e9 },
        { iova: '0xdead005000', write: false, reason: '0x06', ts_ns: 9e9 + 1 },
      ],
      pid: 700, vm: 'vm-alpha',
    },
    // The tracepoint carries no reason code; its device was never attached here: no owner, no IOMMU driver known.
    { device: '0000:41:00.0', iommu_driver: null, count: 1, reads: 0, writes: 1, reasons: { IO_PAGE_FAULT: 1 }, first_ns: 9.5e9, last_ns: 9.5e9, last: [{ iova: '0x1234000', write: true, reason: 'IO_PAGE_FAULT', ts_ns: 9.5e9 }], pid: null, vm: null },
  ]);
  assert.equal(a.ioFaults.reportsDropped, 7);
  assert.deepEqual(s.page_faults.map((f) => f.device), ['0000:41:00.0'], 'page_faults[] keeps the tracepoint\'s alone, as before');
});

test('faults[].last keeps the 16 newest, oldest first; the count keeps them all', () => {
  const list: RawEvent[] = [attach(700, 1)];
  for (let i = 0; i < 40; i++) list.push(logLine(READ((0x1000 * i).toString(16)), 10 + i) as RawEvent);
  const f = aggregate(list).summary(100).faults[0];
  assert.equal(f.count, 40);
  assert.deepEqual(f.last.map((x) => x.iova), Array.from({ length: 16 }, (_, k) => '0x' + (0x1000 * (24 + k)).toString(16)));
});

test('the event log names each fault and the dropped reports; other kernel lines say nothing', () => {
  assert.deepEqual(describeEvent(logLine(READ('dead000000'), 5) as RawEvent, true), { ts_ns: 5, level: 'warn', text: 'IO page fault 0000:00:03.0 read iova 0xdead000000 reason 0x06 (intel-iommu)' });
  assert.equal(describeEvent(logLine(SUPPRESSED, 6) as RawEvent, true)?.text, 'intel-iommu: the kernel dropped 7 fault reports (rate limit)');
  assert.equal(describeEvent(logLine('DMAR: DRHD: handling fault status reg 2', 7) as RawEvent, true), undefined);
  assert.equal(describeEvent(tpFault('0000:41:00.0', 0x1234000n, 1, 8) as RawEvent, true)?.text, 'IO page fault 0000:41:00.0 write iova 0x1234000 flags 0x1');
});

test('metrics: one series per device, IOMMU driver and reason, and the dropped reports; never an address or a pid', () => {
  const a = aggregate(events());
  const fams = buildFamilies({ aggregator: a, nowNs: 10e9, probes: [], lost: 0, source: { kind: 'replay', host: 'h', kernel: '6.1' } });
  const samples = (name: string) => fams.find((f) => f.name === name)?.samples;
  assert.deepEqual(samples('iommutrace_iommu_faults_total'), [
    { labels: { device: DEV, iommu_driver: 'intel-iommu', reason: '0x06' }, value: 3 },
    { labels: { device: '0000:41:00.0', iommu_driver: 'unknown', reason: 'IO_PAGE_FAULT' }, value: 1 },
  ]);
  assert.deepEqual(samples('iommutrace_iommu_fault_reports_dropped_total'), [{ labels: {}, value: 7 }]);
});

test('a capture round trip: the report\'s faults[] and dropped reports equal the aggregator\'s, the text shows them', () => {
  const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
  const status = 'attached';
  const header: CaptureHeader = {
    toolVersion: '0.0.0-test', host: 'h', kernelRelease: '6.1.0-57-amd64', bootId: 'b', btfFingerprint: '', btf: true,
    probes: ['iommu.attach_group', 'iommu.fault_log', 'iommu.io_page_fault'].map((name) => ({ name, target: name, mode: 'tp_btf', status, reason: '', module: '', lacks: [] })),
    clockBaseNs: '0', wallBaseUnixNs: 1795279426000000000, kinds: captureKinds(decoder), leakAgeNs: 30e9, lockdown: 'none', argv: ['record'],
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-faults-')), 'f.iotrace');
  const w = new CaptureWriter(file, header);
  for (const e of events()) w.add(e as unknown as CaptureEvent);
  w.processes([{ pid: 700, vm: 'vm-alpha', cgroup: null }]);
  w.close({ endNs: 10e9, lost: 0, stopReason: 'duration' });
  const report = buildReport(file);
  assert.deepEqual(report.faults, aggregate(events()).summary(10e9).faults);
  assert.equal(report.events.fault_reports_dropped, 7);
  assert.ok(!report.not_watched.includes('faults'));
  const text = renderReport(report);
  assert.match(text, /^IO PAGE FAULTS\n.*DEVICE.*REASONS.*\n.*0000:00:03\.0\s+intel-iommu\s+3\s+3\s+0\s+0x06 x3\s+0xdead005000\s+vm-alpha/m);
  assert.match(text, /7 fault reports the kernel's rate limit kept out of its log/);
});

test('a fault belongs to the process that held the device then: a detach ends the hold, the next attach starts another', () => {
  const detach = { ...attach(700, 3e9), probe: 'iommu.detach_group' } as AttachEvent;
  const held = (list: RawEvent[]) => aggregate(list).summary(10e9).faults[0].pid;
  assert.equal(held([attach(700, 1e9), logLine(READ('1000'), 2e9)] as RawEvent[]), 700);
  assert.equal(held([attach(700, 1e9), logLine(READ('1000'), 2e9), detach, logLine(READ('2000'), 4e9)] as RawEvent[]), null);
  assert.equal(held([attach(700, 1e9), detach, attach(800, 5e9), logLine(READ('3000'), 6e9)] as RawEvent[]), 800);
});
