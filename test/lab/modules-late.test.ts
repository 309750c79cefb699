/**
 * The agent started at boot, before VFIO is loaded (as on hosts, where VFIO loads
 * when the first VM starts), left running while VMs come and go. In one guest per
 * kernel, with VFIO's modules not loaded at boot:
 *
 * 1. `iommutrace export --vm-label` starts; VFIO's probes are `module_not_loaded`.
 * 2. The modules are loaded and the device bound to vfio-pci; the VFIO workload and a
 *    real QEMU VM run. The agent attaches VFIO's probes by itself (kprobes: they do
 *    not hold the module) and counts both exactly against their ground truth.
 * 3. The device is unbound and the modules unloaded (rmmod succeeds with the agent
 *    running), then loaded again: the probes detach and attach again, and a second VM
 *    and workload run are counted exactly again.
 * 4. More VMs start and quit in turn (IOMMUTRACE_LAB_VMS in all, default 3): each
 *    exact; the in-kernel tables are back where they were after the first VM (the
 *    freed domains' keys are deleted) and the agent's resident memory stays flat.
 *
 * The agent runs with the unit's V8 settings. The metrics are scraped at each step;
 * the numbers are compared with `export --dump` at the end, per process, against
 * each workload's truth.
 *
 *   IOMMUTRACE_LAB_VMS=12 IOMMUTRACE_LAB_KERNELS=debian-6.12 node --test dist/test/lab/modules-late.test.js
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import type { AgentDump } from '../../src/export/agent';
import { LAB_DEVICE, prepareKernel, prepareWorkloadBinaries, runLab, vfioModules, type KernelName, type QemuTruth, type VfioTruth } from '../../src/lab';
import { sample } from '../exposition';
import { ROOT } from '../helpers';
import { labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

const KERNELS = (process.env.IOMMUTRACE_LAB_KERNELS?.split(',') ?? ['debian-6.1', 'debian-6.12']) as KernelName[];
const VMS = Math.max(2, Number(process.env.IOMMUTRACE_LAB_VMS ?? 3));
const MODULE = 'vfio_iommu_type1';
/** The V8 settings of deploy/systemd/iommutrace-export.service. */
const UNIT_NODE_OPTIONS = /^Environment="NODE_OPTIONS=([^"]*)"/m.exec(fs.readFileSync(path.join(ROOT, 'deploy', 'systemd', 'iommutrace-export.service'), 'utf8'))?.[1] ?? '';
/** Prints the agent's metrics (Node's fetch, in the guest). */
const SCRAPE = path.join(__dirname, 'scrape-metrics.js');
/** VFIO type1 maps and unmaps two pages of its own at VFIO_SET_IOMMU (its fine-grained super page probe). */
const TYPE1_PROBE_BYTES = 2 * 4096;

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The guest's side: the agent first, then VFIO loaded, used, unloaded, loaded again, and VMs in turn. */
function guestScript(out: string, bin: string, modules: { path: string; params: string[] }[]): string {
  const dev = `/sys/bus/pci/devices/${LAB_DEVICE}`;
  const load = modules.map((m) => `  insmod ${shq(m.path)} ${m.params.map(shq).join(' ')} 2>>"$OUT/insmod.err"`);
  const unload = [...modules].reverse().map((m) => `  rmmod ${path.basename(m.path).replace(/\.ko(\.\w+)?$/, '')} 2>>"$OUT/rmmod.err" || echo "${path.basename(m.path)}" >>"$OUT/rmmod.failed"`);
  return [
    '#!/bin/sh',
    `OUT=${shq(out)}`,
    'cd "$OUT"',
    'fact() { echo "$1=$2" >>"$OUT/facts"; }',
    `scrape() { node ${shq(SCRAPE)} >"$OUT/metrics-$1.txt" 2>"$OUT/scrape-$1.err"; grep -E '^Vm(RSS|HWM)' /proc/$e/status | tr -s ' \\t' ' ' >"$OUT/memory-$1.txt"; }`,
    // The agent says on stderr when probes attach: wait for it (TCG plans and loads slowly), then a moment more.
    `attached() { i=0; until [ "$(grep -c 'vfio[.]pin.* attached: ' "$OUT/export.err")" -ge "$1" ] || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done; fact "attach_wait_$1" $i; }`,
    'load_vfio() {',
    ...load,
    `  echo vfio-pci >${dev}/driver_override`,
    `  echo ${LAB_DEVICE} >/sys/bus/pci/drivers_probe`,
    '}',
    'unload_vfio() {',
    `  echo ${LAB_DEVICE} >${dev}/driver/unbind`,
    ...unload,
    '  sleep 3',
    '}',
    `vm() { ${shq(`${bin}/qemu`)} --device ${LAB_DEVICE} --name "vm$1" --memory-mib 256 --out "$OUT/qemu-$1.json" >"$OUT/qemu-$1.log" 2>&1; fact "qemu_$1" $?; }`,
    `vfio() { ${shq(`${bin}/vfio`)} --device ${LAB_DEVICE} --rounds 3 --size-mib 2 --out "$OUT/vfio-$1.json" >"$OUT/vfio-$1.log" 2>&1; fact "vfio_$1" $?; }`,
    // The guest has no network but loopback, which nothing has brought up.
    'ip link set lo up 2>/dev/null || busybox ip link set lo up',
    'rm -f "$OUT"/facts "$OUT"/*.txt "$OUT"/*.json "$OUT"/rmmod.* "$OUT"/insmod.err',
    `fact loaded_at_start "$(grep -c '^${MODULE} ' /proc/modules)"`,
    // With the V8 settings the agent is deployed with (the systemd unit's).
    `NODE_OPTIONS=${shq(UNIT_NODE_OPTIONS)} iommutrace export --listen 127.0.0.1:9464 --vm-label --dump "$OUT/dump.json" 2>"$OUT/export.err" &`,
    'e=$!',
    "i=0; until grep -q '^exporting' \"$OUT/export.err\" 2>/dev/null || ! kill -0 $e 2>/dev/null || [ $i -gt 2400 ]; do sleep 0.1; i=$((i+1)); done",
    'scrape start',
    'load_vfio',
    'attached 1',
    'scrape loaded',
    'vfio 1',
    'vm 1',
    // export reads the sums every second: the freed domain's keys go at the read after.
    'sleep 3',
    'scrape vm1',
    'unload_vfio',
    `fact loaded_after_unload "$(grep -c '^${MODULE} ' /proc/modules)"`,
    'scrape unloaded',
    'load_vfio',
    'attached 2',
    'scrape reloaded',
    'vfio 2',
    `n=2; while [ $n -le ${VMS} ]; do vm $n; sleep 3; scrape "vm$n"; n=$((n+1)); done`,
    'kill -TERM $e; wait $e',
    'fact export_rc $?',
    'exit 0',
    '',
  ].join('\n');
}

before(() => prepareKernels(KERNELS));

for (const kernel of KERNELS) {
  test(`${kernel}: the agent started before VFIO follows its modules loaded, unloaded and loaded again, and stays flat over ${VMS} VMs`, labTestOptions(kernel, 25 + 2 * VMS), async () => {
    requirePrerequisites(kernel);
    const k = await prepareKernel(kernel);
    const out = path.join(ROOT, 'build', 'lab-out', `${kernel}-modules-late`);
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out, { recursive: true });
    const modules = vfioModules(k).map((m) => ({ path: path.join(k.modulesDir!, m.file), params: m.params }));
    assert.ok(modules.some((m) => m.path.includes(MODULE)), `${MODULE} is a module of ${kernel}`);
    const script = path.join(out, 'late.sh');
    fs.writeFileSync(script, guestScript(out, await prepareWorkloadBinaries(), modules), { mode: 0o755 });

    const r = await runLab({ kernel, workloads: 'none', iommu: true, vfio: 'late', command: ['sh', script], outDir: out, timeoutMs: (22 + 2 * VMS) * 60_000 });
    const read = (f: string): string => fs.readFileSync(path.join(out, f), 'utf8');
    assert.equal(r.exitCode, 0, `guest script failed:\n${r.stderr}\n${r.log.split('\n').slice(-20).join('\n')}`);
    const facts = Object.fromEntries(read('facts').trim().split('\n').map((l) => l.split('=') as [string, string]));
    assert.equal(facts.loaded_at_start, '0', `${MODULE} is not loaded when the agent starts`);
    assert.equal(facts.export_rc, '0', `export exits 0: ${read('export.err')}`);
    assert.ok(!fs.existsSync(path.join(out, 'rmmod.failed')), `every VFIO module unloads with the agent running: ${fs.existsSync(path.join(out, 'rmmod.err')) ? read('rmmod.err') : ''}`);
    assert.equal(facts.loaded_after_unload, '0');
    for (const [name, rc] of Object.entries(facts)) if (/^(vfio|qemu)_/.test(name)) assert.equal(rc, '0', `${name} ran: ${read(`${name.replace('_', '-')}.log`)}`);

    // What the metrics said at each step.
    const metrics = (step: string): string => read(`metrics-${step}.txt`);
    const attached = (step: string, probe: string) => sample(metrics(step), 'iommutrace_probe_attached', { probe });
    const changes = (step: string, probe: string, change: string) => sample(metrics(step), 'iommutrace_probe_changes_total', { probe, change }) ?? 0;
    for (const probe of ['vfio.pin', 'vfio.unpin', 'vfio.map_dma']) {
      assert.equal(attached('start', probe), 0, `${probe} not attached at the start`);
      assert.equal(attached('loaded', probe), 1, `${probe} attached once the modules loaded`);
      assert.equal(changes('loaded', probe, 'attached'), 1);
      assert.equal(sample(metrics('loaded'), 'iommutrace_probe_attached', { probe, mode: 'kretprobe' }), 1, `${probe} by kprobes, which do not hold the module`);
      assert.equal(attached('unloaded', probe), 0, `${probe} detached after the unload`);
      assert.equal(sample(metrics('unloaded'), 'iommutrace_probe_detached', { probe }), 1);
      assert.equal(changes('unloaded', probe, 'detached'), 1);
      assert.equal(attached('reloaded', probe), 1, `${probe} attached again`);
      assert.equal(changes('reloaded', probe, 'attached'), 2);
      assert.ok((sample(metrics('reloaded'), 'iommutrace_probe_last_change_timestamp_seconds', { probe, change: 'attached' }) ?? 0) > 1.7e9, 'when it attached again');
    }
    assert.equal(sample(metrics('start'), 'iommutrace_probe_attached', { probe: 'iommu.domain_free' }), 1, 'the domain-free probe runs');

    // Every workload and VM, exact from the agent's dump, per process.
    const dump = JSON.parse(read('dump.json')) as AgentDump;
    assert.equal(dump.events.lost, 0, 'nothing lost');
    const proc = (pid: number) => dump.processes.find((p) => p.pid === pid);
    const runs: { what: string; pid: number; truth: VfioTruth | QemuTruth }[] = [
      ...[1, 2].map((n) => ({ what: `vfio run ${n}`, truth: JSON.parse(read(`vfio-${n}.json`)) as VfioTruth })).map((x) => ({ ...x, pid: x.truth.pid })),
      ...Array.from({ length: VMS }, (_, i) => JSON.parse(read(`qemu-${i + 1}.json`)) as QemuTruth).map((t) => ({ what: `VM ${t.vm}`, pid: t.qemu_pid, truth: t })),
    ];
    for (const { what, pid, truth } of runs) {
      const p = proc(pid);
      assert.ok(p, `${what}: process ${pid} in the dump`);
      assert.deepEqual(
        { map_bytes: p.map_bytes, unmap_bytes: p.unmap_bytes, pinned_pages: p.pinned_pages, unpinned_pages: p.unpinned_pages },
        { map_bytes: truth.mapped_bytes + TYPE1_PROBE_BYTES, unmap_bytes: truth.unmapped_bytes + TYPE1_PROBE_BYTES, pinned_pages: truth.pinned_pages, unpinned_pages: truth.unpinned_pages },
        what,
      );
    }
    assert.equal(dump.pins.vfio_pages, runs.reduce((a, x) => a + x.truth.pinned_pages, 0), 'every VFIO pin');
    assert.equal(dump.pins.vfio_unpinned_pages, runs.reduce((a, x) => a + x.truth.unpinned_pages, 0), 'every VFIO unpin');
    // MAP_DMA requests: the workload's own, and one per RAM section QEMU traced adding.
    const requests = runs.reduce((a, x) => a + ('map_ioctls' in x.truth ? x.truth.map_ioctls : x.truth.trace_add_ram), 0);
    assert.equal(dump.probe_events['vfio.map_dma'], requests, 'every MAP_DMA request');
    // Each VM by name while it ran: its pinned pages back to 0 once it quit.
    for (let n = 2; n <= VMS; n++) {
      const t = JSON.parse(read(`qemu-${n}.json`)) as QemuTruth;
      assert.equal(sample(metrics(`vm${n}`), 'iommutrace_vm_dma_mapped_bytes_total', { vm: t.vm }), t.mapped_bytes + TYPE1_PROBE_BYTES, `${t.vm}'s bytes on /metrics`);
      assert.equal(sample(metrics(`vm${n}`), 'iommutrace_vm_pinned_pages', { vm: t.vm }), 0, `${t.vm} holds nothing pinned after it quit`);
    }

    // Flat: the in-kernel tables and the agent's memory after each VM, against after the second.
    const table = (step: string, map: string) => sample(metrics(step), 'iommutrace_kernel_map_entries', { map })!;
    const rss = (step: string) => Number(/VmRSS: (\d+)/.exec(read(`memory-${step}.txt`))![1]) / 1024;
    const steps = Array.from({ length: VMS - 1 }, (_, i) => `vm${i + 2}`);
    const figures = steps.map((s) => `${s}: it_agg ${table(s, 'it_agg')}, it_hist ${table(s, 'it_hist')}, RSS ${rss(s).toFixed(1)} MB`);
    console.log(`# ${kernel}: VFIO's probes attached ${Number(facts.attach_wait_1) / 10} s and ${Number(facts.attach_wait_2) / 10} s after the modules were loaded and the device bound`);
    console.log(`# ${kernel}: ${figures.join('; ')}; peak ${/VmHWM: (\d+)/.exec(read(`memory-vm${VMS}.txt`))![1]} kB`);
    // No key of any VM's or workload's domain is left: it_hist holds the latency buckets of
    // calls without a domain alone (GUP's; a bucket each latency reached, so their count
    // grows a little, bounded by the buckets), it_agg the sums of what still runs.
    const hist = dump.kernel_maps?.find((m) => m.map === 'it_hist');
    assert.deepEqual(hist?.domains, ['0x0'], `it_hist holds no domain's keys: ${JSON.stringify(dump.kernel_maps)}`);
    for (const s of steps.slice(1)) {
      assert.ok(table(s, 'it_agg') <= table('vm2', 'it_agg') + 4, `it_agg after ${s}: ${table(s, 'it_agg')} keys, after vm2 ${table('vm2', 'it_agg')}`);
    }
    // Resident memory settles over the first VMs (V8's heap grows to its working size, on
    // 6.1 with a ring event per unpinned page); over the second half of a long run it must
    // stay within a few MB (a collection may come at any moment: the heap breathing).
    const late = steps.slice(Math.floor(steps.length / 2)).map(rss);
    if (late.length >= 4) assert.ok(Math.max(...late) - Math.min(...late) <= 12, `resident over the last ${late.length} VMs: ${late.map((x) => x.toFixed(1)).join(', ')} MB`);
  });
}
