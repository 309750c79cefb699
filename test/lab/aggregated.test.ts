/**
 * Aggregated mode (top and export) against record mode, in the kernel, in one guest
 * per kernel around the vfio and gup workloads:
 * - `export --check-aggregation` sums calls in the kernel as it always does and also
 *   sends them to the ring, marked: the state built from the sums must equal the one
 *   built from every event of the same calls, number for number over everything
 *   (every probe, device, process, latency bucket), kernel drivers' DMA included;
 * - `record` runs at the same time, its own programs on the same calls: the
 *   workloads' devices and processes must have the same counts, bytes and pages.
 *   Latency buckets cannot match across two tools: each one's programs run inside
 *   the other's timing (fentry A, fentry B, the call, fexit A, fexit B). Kernel
 *   drivers' DMA (the guest's 9p root) runs all the time and the two tools start and
 *   stop a moment apart, so rows of kernel-driver devices are not compared there.
 * - once the workload's VFIO domain is detached, export deletes its latency keys
 *   from it_hist (after reading their last counts, which the comparisons above hold).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { runLab, type KernelName } from '../../src/lab';
import { ROOT } from '../helpers';
import { compareRun } from './aggregated-compare';
import { labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

const KERNELS: KernelName[] = ['debian-6.1', 'debian-6.12'];

/**
 * 6.1 boots with the possible CPUs of a big host (per-CPU tables sized for it, every
 * per-CPU value read back for 256 CPUs); 6.12 (which no longer takes possible_cpus=)
 * with the guest's two, where the kernel counts what the maps allocated.
 */
const POSSIBLE_CPUS: Partial<Record<KernelName, number>> = { 'debian-6.1': 256 };

/**
 * Runs export in the background until it serves, then record; on the runner's TERM
 * both stop, record first. TERM, not INT: a shell cannot trap a signal ignored when
 * it started, and a background job without job control (no tty in the guest) starts
 * with INT ignored.
 */
function bothTools(out: string): string[] {
  const script = [
    `iommutrace export --listen 127.0.0.1:9464 --check-aggregation --dump ${out}/export.json 2>${out}/export.err &`,
    'e=$!',
    `i=0; until grep -q '^exporting' ${out}/export.err 2>/dev/null || ! kill -0 $e 2>/dev/null || [ $i -gt 2400 ]; do sleep 0.1; i=$((i+1)); done`,
    `iommutrace record -o ${out}/capture.iotrace --force --leak-age 0s &`,
    'r=$!',
    // export reads the sums every second: 3 s more let it see the workload's domain detached at two reads.
    "trap 'kill -TERM $r; wait $r; rc=$?; sleep 3; kill -TERM $e; wait $e; exit $((rc + $?))' TERM",
    'wait $r',
  ].join('\n');
  return ['sh', '-c', script];
}

before(() => prepareKernels(KERNELS));

for (const kernel of KERNELS) {
  const cpus = POSSIBLE_CPUS[kernel];
  test(`${kernel}${cpus ? ` with ${cpus} possible CPUs` : ''}: export's kernel-summed numbers equal record's events for the workloads' devices and processes, its maps within 16 MB`, labTestOptions(kernel, 14), async () => {
    requirePrerequisites(kernel);
    const out = path.join(ROOT, 'build', 'lab-out', `aggregated-${kernel}`);
    fs.mkdirSync(out, { recursive: true });
    fs.rmSync(path.join(out, 'export.json'), { force: true });
    const r = await runLab({
      kernel,
      workloads: ['vfio', 'gup'],
      schedule: 'around',
      readyPattern: 'recording to',
      readyTimeoutMs: 480_000,
      readyDelayMs: 2000,
      command: bothTools(out),
      stopSignal: 'TERM',
      kernelArgs: cpus ? [`possible_cpus=${cpus}`] : undefined,
      outDir: out,
      timeoutMs: 13 * 60_000,
      onProgress: (m) => process.stderr.write(`# ${m}\n`),
    });
    assert.equal(r.exitCode, 0, `the tools failed in the guest:\n${r.stderr}\n${fs.readFileSync(path.join(out, 'export.err'), 'utf8')}`);
    await compareRun(out, r.groundTruth, cpus);
  });
}
