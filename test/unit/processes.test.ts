import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { captureKinds } from '../../src/capture/kinds';
import { readCaptureFile } from '../../src/capture/reader';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { RawEvent } from '../../src/events/types';
import { ProcessFactsCache, readProcessFacts } from '../../src/process/facts';
import { cgroupPath, parseQemuOpts, splitCmdline, vmName } from '../../src/process/vmm';
import { buildFamilies } from '../../src/export/model';
import { flatten } from '../../src/export/series';
import { buildReport } from '../../src/report/build';
import { ReplaySource } from '../../src/source/replay';
import { BPF_OBJECT } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-proc-'));

test('QEMU -name: guest= anywhere in the list, the implied first key, ",," escapes, the last one, and none', () => {
  const q = (...args: string[]) => vmName(['/usr/bin/qemu-system-x86_64', '-machine', 'q35', ...args]);
  assert.equal(q('-name', 'guest=vm1,debug-threads=on'), 'vm1');
  assert.equal(q('-name', 'debug-threads=on,guest=vm2'), 'vm2');
  assert.equal(q('-name', 'plain'), 'plain');
  assert.equal(q('-name', 'plain,debug-threads=on'), 'plain');
  assert.equal(q('-name', 'guest=a,,b,process=qemu:a'), 'a,b');
  assert.equal(q('-name', 'x,,y'), 'x,y');
  assert.equal(q('-name', 'guest=a=b'), 'a=b');
  assert.equal(q('--name', 'guest=dashes'), 'dashes');
  assert.equal(q('-name', 'first', '-name', 'guest=second'), 'second');
  assert.equal(q('-name', 'debug-threads=on'), null, 'no guest key');
  assert.equal(q(), null, 'no -name');
  assert.equal(q('-name'), null, '-name without a value');
  assert.equal(vmName(['qemu-kvm', '-name', 'guest=default_vmi-fedora,debug-threads=on']), 'default_vmi-fedora');
  assert.equal(vmName(['/usr/bin/python3', '-name', 'guest=not-a-vmm']), null, 'only VMMs name VMs');
  assert.deepEqual([...parseQemuOpts('guest=a,,b,debug-threads=on,nofoo', 'guest')], [['guest', 'a,b'], ['debug-threads', 'on'], ['nofoo', 'on']]);
});

test('Firecracker names its microVM with --id; cloud-hypervisor does not name VMs', () => {
  assert.equal(vmName(['/usr/bin/firecracker', '--api-sock', '/run/fc.sock', '--id', 'fc-7']), 'fc-7');
  assert.equal(vmName(['firecracker', '--id=fc-8']), 'fc-8');
  assert.equal(vmName(['firecracker', '--api-sock', '/run/fc.sock']), null);
  assert.equal(vmName(['firecracker', '--id', 'anonymous-instance']), null, 'the default id names nothing');
  assert.equal(vmName(['cloud-hypervisor', '--api-socket', '/run/ch.sock', '--kernel', 'vmlinux']), null);
});

test('cmdline and cgroup v2 parsing: NUL-separated argv, the 0:: line verbatim', () => {
  assert.deepEqual(splitCmdline('qemu-system-x86_64\0-name\0guest=vm1\0'), ['qemu-system-x86_64', '-name', 'guest=vm1']);
  const scope = '/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator';
  assert.equal(cgroupPath(`0::${scope}\n`), scope);
  assert.equal(cgroupPath('12:memory:/x\n0::/kubepods.slice/kubepods-pod1234.slice/cri-containerd-abc.scope\n'), '/kubepods.slice/kubepods-pod1234.slice/cri-containerd-abc.scope');
  assert.equal(cgroupPath('12:memory:/x\n4:cpu:/y\n'), null, 'v1 only');
  assert.equal(cgroupPath(''), null);
});

/** A fake /proc with one process per entry (its main thread named `comm`). */
function fakeProc(procs: Record<number, { argv: string[]; cgroup?: string; comm?: string }>): string {
  const root = fs.mkdtempSync(path.join(tmp, 'proc-'));
  for (const [pid, p] of Object.entries(procs)) {
    fs.mkdirSync(path.join(root, pid, 'task', pid), { recursive: true });
    fs.writeFileSync(path.join(root, pid, 'cmdline'), p.argv.map((a) => a + '\0').join(''));
    fs.writeFileSync(path.join(root, pid, 'task', pid, 'comm'), `${p.comm ?? path.basename(p.argv[0])}\n`);
    if (p.cgroup !== undefined) fs.writeFileSync(path.join(root, pid, 'cgroup'), p.cgroup);
  }
  return root;
}

test('the live lookup: /proc/PID read once per pid, a vanished process has no facts, the cache is bounded', () => {
  const root = fakeProc({
    10: { argv: ['/usr/bin/qemu-system-x86_64', '-name', 'guest=vm-a,debug-threads=on'], comm: 'qemu-system-x86', cgroup: '0::/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2da.scope/libvirt\n' },
    11: { argv: ['fio'], cgroup: '0::/user.slice\n' },
    12: { argv: ['dpdk'] },
  });
  assert.deepEqual(readProcessFacts(10, root), { pid: 10, vm: 'vm-a', cgroup: '/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2da.scope/libvirt' });
  assert.deepEqual(readProcessFacts(99, root), { pid: 99, vm: null, cgroup: null }, 'gone');
  const cache = new ProcessFactsCache(root, 2);
  cache.see(10, 10, 'qemu-system-x86');
  // Read once: a later change of the file is not seen.
  fs.writeFileSync(path.join(root, '10', 'cmdline'), 'other\0');
  cache.see(10, 10, 'qemu-system-x86');
  cache.see(0, 0, 'swapper/0');
  cache.see(11, 11, 'fio');
  cache.see(12, 12, 'dpdk');
  assert.equal(cache.get(10)?.vm, 'vm-a');
  assert.equal(cache.get(11)?.cgroup, '/user.slice');
  assert.equal(cache.get(12), undefined, 'past the bound');
  assert.equal(cache.overflow, 1);
  assert.deepEqual(cache.take().map((f) => f.pid), [10, 11]);
  assert.deepEqual(cache.take(), [], 'each fact handed to the writer once');
});

test('a full lookup table forgets exited processes no table asked about, so later VMs are still named', () => {
  const root = fakeProc({
    10: { argv: ['qemu-system-x86_64', '-name', 'guest=vm-a'], comm: 'qemu-system-x86' },
    11: { argv: ['sh'] },
    12: { argv: ['qemu-system-x86_64', '-name', 'guest=vm-b'], comm: 'qemu-system-x86' },
    13: { argv: ['qemu-system-x86_64', '-name', 'guest=vm-c'], comm: 'qemu-system-x86' },
  });
  const cache = new ProcessFactsCache(root, 2);
  cache.see(10, 10, 'qemu-system-x86');
  cache.see(11, 11, 'sh');
  assert.equal(cache.get(10)?.vm, 'vm-a', 'a process row names vm-a');
  // Both exit: 10 stays (its row still shows it), 11 makes room for the next VM.
  fs.rmSync(path.join(root, '10'), { recursive: true });
  fs.rmSync(path.join(root, '11'), { recursive: true });
  cache.see(12, 12, 'qemu-system-x86');
  assert.equal(cache.get(12)?.vm, 'vm-b');
  assert.equal(cache.get(10)?.vm, 'vm-a');
  assert.equal(cache.overflow, 0);
  // Full of live or wanted pids: the next one is counted, and the table is not searched again at once.
  cache.see(13, 13, 'qemu-system-x86');
  assert.equal(cache.get(13), undefined);
  assert.equal(cache.overflow, 1);
});

test('the live lookup names nobody when /proc shows another thread than the event\'s (another pid namespace, a reused pid)', () => {
  const root = fakeProc({ 20: { argv: ['qemu-system-x86_64', '-name', 'guest=other-vm'], comm: 'qemu-system-x86' } });
  // This /proc's thread 21 is "worker", the event's "CPU 0/KVM": not the event's process.
  fs.mkdirSync(path.join(root, '20', 'task', '21'));
  fs.writeFileSync(path.join(root, '20', 'task', '21', 'comm'), 'worker\n');
  const cache = new ProcessFactsCache(root);
  cache.see(20, 21, 'CPU 0/KVM');
  cache.see(20, 21, 'CPU 0/KVM');
  assert.equal(cache.get(20), undefined, 'tried again with the next event');
  cache.see(20, 21, 'CPU 0/KVM');
  assert.deepEqual(cache.get(20), { pid: 20, vm: null, cgroup: null }, 'then given up as unknown');
  assert.deepEqual(cache.take(), [], 'nothing unknown goes into the capture');
  // A vCPU thread of the right process is enough.
  fs.mkdirSync(path.join(root, '20', 'task', '22'));
  fs.writeFileSync(path.join(root, '20', 'task', '22', 'comm'), 'CPU 1/KVM\n');
  const again = new ProcessFactsCache(root);
  again.see(20, 22, 'CPU 1/KVM');
  assert.equal(again.get(20)?.vm, 'other-vm');
});

test('the live lookup waits out threads that exited while their process lives, and gives a vanished process up at once', () => {
  const root = fakeProc({ 30: { argv: ['qemu-system-x86_64', '-name', 'guest=vm-w'], comm: 'qemu-system-x86' } });
  const cache = new ProcessFactsCache(root);
  // Many events of a worker thread (tid 31) gone before they were read: the process lives, so no verdict yet.
  for (let i = 0; i < 40; i++) cache.see(30, 31, 'qemu-system-x86');
  assert.equal(cache.get(30), undefined, 'not given up for threads that exited');
  // Its main thread's next event names the VM.
  cache.see(30, 30, 'qemu-system-x86');
  assert.equal(cache.get(30)?.vm, 'vm-w');
  // A process gone altogether: unknown at its first event, no /proc read again for it.
  cache.see(40, 40, 'qemu-system-x86');
  assert.deepEqual(cache.get(40), { pid: 40, vm: null, cgroup: null });
});

const hdr = (ts: number, pid: number, comm: string, probe: string) => ({ ts_ns: ts, pid, tid: pid, ret: 0, comm, probe });
const map = (ts: number, pid: number, comm: string, bytes: number, probe = 'iommu.map'): CaptureEvent =>
  ({ kind: 'dma', ...hdr(ts, pid, comm, probe), lat_ns: 100, domain: 0xffff0001n, iova: 0n, size: bytes, done: bytes }) as CaptureEvent;
const pin = (ts: number, pid: number, comm: string, pages: number, probe = 'vfio.pin'): CaptureEvent =>
  ({ kind: 'pin', ...hdr(ts, pid, comm, probe), lat_ns: 100, addr: 0x7f0000000000n, nr_pages: pages, pinned: pages }) as CaptureEvent;
const ATTACHED = ['iommu.map', 'iommu.unmap', 'vfio.pin', 'vfio.unpin'];

/** QEMU maps 3 MiB over 2 s, pins 768 pages, unmaps 1 MiB and unpins 256; a second process maps 4 KiB once. */
function workload(): CaptureEvent[] {
  return [
    map(1e9, 500, 'qemu-system-x86', 1 << 20),
    pin(1e9 + 10, 500, 'qemu-system-x86', 256),
    map(2e9, 500, 'qemu-system-x86', 1 << 20),
    pin(2e9 + 10, 500, 'qemu-system-x86', 512),
    map(2.5e9, 600, 'dpdk-app', 4096),
    map(3e9, 500, 'qemu-system-x86', 1 << 20),
    map(4e9, 500, 'qemu-system-x86', 1 << 20, 'iommu.unmap'),
    pin(4e9 + 10, 500, 'qemu-system-x86', 256, 'vfio.unpin'),
  ];
}

test('the aggregator: bytes, pins, first and last map and the rate while mapping, per process', () => {
  const a = new Aggregator({ attached: new Set(ATTACHED), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => (pid === 500 ? { pid, vm: 'vm-a', cgroup: '/machine.slice/x' } : undefined) });
  for (const e of workload()) a.add(e as RawEvent);
  const { processes, overflow } = a.summary(5e9);
  assert.deepEqual(processes, [
    { pid: 500, comm: 'qemu-system-x86', vm: 'vm-a', cgroup: '/machine.slice/x', map_bytes: 3 << 20, unmap_bytes: 1 << 20, pinned_pages: 768, unpinned_pages: 256, first_map_ns: 1e9, last_map_ns: 3e9, map_bytes_per_s: (3 << 20) / 2, huge_map_share: 0 },
    { pid: 600, comm: 'dpdk-app', vm: null, cgroup: null, map_bytes: 4096, unmap_bytes: 0, pinned_pages: 0, unpinned_pages: 0, first_map_ns: 2.5e9, last_map_ns: 2.5e9, map_bytes_per_s: null, huge_map_share: 0 },
  ]);
  assert.equal(overflow.processes, 0);
});

test('the per-process table is bounded: the process past the bound is summed under pid -1 and counted', () => {
  const a = new Aggregator({ attached: new Set(ATTACHED), symbolize: () => '', leakAgeNs: 0, maxProcesses: 3 });
  for (let pid = 1; pid <= 4; pid++) a.add(map(pid * 1000, pid, `p${pid}`, 4096 * pid) as RawEvent);
  a.add(map(9000, 2, 'p2', 4096) as RawEvent);
  const { processes, overflow } = a.summary(1e4);
  assert.deepEqual(processes.map((p) => [p.pid, p.map_bytes]), [[-1, 4096 * 4], [2, 4096 * 3], [3, 4096 * 3], [1, 4096]]);
  assert.equal(processes[0].comm, '(others)');
  assert.equal(overflow.processes, 1);
});

const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));

function header(): CaptureHeader {
  return {
    toolVersion: '0.0.0-test',
    host: 'testhost',
    kernelRelease: '6.1.0-56-amd64',
    bootId: 'b00t',
    btfFingerprint: '',
    btf: true,
    probes: ATTACHED.map((name) => ({ name, target: name, mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] })),
    clockBaseNs: '1000',
    wallBaseUnixNs: 1795279426000000000,
    kinds: captureKinds(decoder),
    leakAgeNs: 30e9,
    lockdown: 'none',
    argv: ['record'],
  };
}

function capture(name: string, withFacts: boolean): string {
  const file = path.join(tmp, name);
  const w = new CaptureWriter(file, header(), { batchEvents: 3 });
  const events = workload();
  events.slice(0, 4).forEach((e) => w.add(e));
  if (withFacts) w.processes([{ pid: 500, vm: 'vm-a', cgroup: '/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2da.scope' }]);
  w.flush();
  events.slice(4).forEach((e) => w.add(e));
  if (withFacts) w.processes([{ pid: 600, vm: null, cgroup: '/kubepods.slice/pod1' }], 3);
  w.close({ endNs: 5e9, lost: 0, stopReason: 'duration' });
  return file;
}

test('process facts round-trip through a capture: the report names the VM and cgroup as the recording host read them', () => {
  const file = capture('facts.iotrace', true);
  const contents = readCaptureFile(file);
  assert.equal(contents.damage, undefined);
  assert.deepEqual([...contents.processes.values()], [
    { pid: 500, vm: 'vm-a', cgroup: '/machine.slice/machine-qemu\\x2d1\\x2dvm\\x2da.scope' },
    { pid: 600, vm: null, cgroup: '/kubepods.slice/pod1' },
  ]);
  const live = new Aggregator({ attached: new Set(ATTACHED), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => contents.processes.get(pid) });
  for (const e of workload()) live.add(e as RawEvent);
  const report = buildReport(file);
  assert.deepEqual(report.processes, live.summary(5e9).processes, 'the report of the file equals what the recording host aggregated');
  assert.equal(report.processes[0].vm, 'vm-a');
  assert.equal(contents.processesUnread, 3);
  assert.equal(report.overflow.process_facts, 3, 'events whose process the recording host did not look up');
  assert.equal(new ReplaySource(file).processFacts(600)?.cgroup, '/kubepods.slice/pod1', 'replays (top, export) read them too');
});

test('a capture without process frames (recorded before them) still reads: processes[] holds the figures, vm and cgroup null', () => {
  const report = buildReport(capture('old.iotrace', false));
  assert.equal(report.capture.damage, null);
  assert.equal(report.overflow.process_facts, 0);
  assert.deepEqual(report.processes.map((p) => [p.pid, p.vm, p.cgroup, p.map_bytes, p.pinned_pages]), [
    [500, null, null, 3 << 20, 768],
    [600, null, null, 4096, 0],
  ]);
});

test('a process frame with a bad pid is damage, said where; what came before it is read', () => {
  const file = path.join(tmp, 'bad.iotrace');
  const w = new CaptureWriter(file, header());
  w.add(workload()[0]);
  w.flush();
  w.processes([{ pid: 0, vm: 'x', cgroup: null }]);
  w.close({ endNs: 1, lost: 0, stopReason: 'duration' });
  const c = readCaptureFile(file);
  assert.match(c.damage ?? '', /is inconsistent: process info has pid 0/);
  assert.equal(c.events, 1);
});

test('export --vm-label: per-VM mapped bytes and pinned pages, summed over the VM\'s processes; off, no such series', () => {
  const facts = new Map([
    [500, { pid: 500, vm: 'vm-a', cgroup: null }],
    [501, { pid: 501, vm: 'vm-a', cgroup: null }],
  ]);
  const a = new Aggregator({ attached: new Set(ATTACHED), symbolize: () => '', leakAgeNs: 0, processFacts: (pid) => facts.get(pid) });
  for (const e of workload()) a.add(e as RawEvent);
  // vm-a restarted as pid 501: its series keep counting.
  a.add(map(6e9, 501, 'qemu-system-x86', 4096) as RawEvent);
  a.add(pin(6e9, 501, 'qemu-system-x86', 1) as RawEvent);
  const input = { aggregator: a, nowNs: 7e9, probes: [], lost: 0, source: { kind: 'replay', host: 'h', kernel: '6.1' } };
  const off = buildFamilies(input);
  assert.ok(!off.some((f) => f.name.startsWith('iommutrace_vm_')), 'off by default');
  const on = buildFamilies({ ...input, vmLabel: true });
  const family = (name: string) => on.find((f) => f.name === name)!.samples;
  assert.deepEqual(family('iommutrace_vm_dma_mapped_bytes_total'), [{ labels: { vm: 'vm-a' }, value: (3 << 20) + 4096 }], 'dpdk-app names no VM: no series');
  assert.deepEqual(family('iommutrace_vm_dma_unmapped_bytes_total'), [{ labels: { vm: 'vm-a' }, value: 1 << 20 }]);
  assert.deepEqual(family('iommutrace_vm_pinned_pages'), [{ labels: { vm: 'vm-a' }, value: 768 - 256 + 1 }]);
  assert.ok(flatten(on).some((x) => x.name === 'iommutrace_vm_dma_mapped_bytes_total' && x.labels.vm === 'vm-a'), 'one flattened series per VM');
});

test('a process frame with a name past the bound is damage too', () => {
  const file = path.join(tmp, 'long.iotrace');
  const w = new CaptureWriter(file, header());
  w.processes([{ pid: 5, vm: 'v'.repeat(4097), cgroup: null }]);
  w.close({ endNs: 1, lost: 0, stopReason: 'duration' });
  assert.match(readCaptureFile(file).damage ?? '', /process 5 has a name longer than 4096/);
});
