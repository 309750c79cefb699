/**
 * Lab captures: `iommutrace record` around a lab workload inside a real kernel, kept
 * in build/lab-captures/ for the end-to-end tests (iommutop, export) and the benchmarks.
 * The ground-truth tests make them; any other suite asks for one through
 * `labCapture()`, which makes it when it is missing, so no suite depends on the order
 * in which suites run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runLab, type GroundTruth, type IommuVendor, type KernelName, type WorkloadName } from '../../src/lab';
import type { LabArch } from '../../src/lab/arch';
import { IN_CI, ROOT } from '../helpers';
import { missingPrerequisite, prepareKernels, requirePrerequisites } from './prerequisites';

export const LAB_CAPTURES = path.join(ROOT, 'build', 'lab-captures');

export interface Boot {
  kernel: KernelName;
  workloads: WorkloadName[];
  /** The emulated IOMMU (default: the arch's first, intel on x86_64, smmuv3 on arm64). */
  vendor?: IommuVendor;
  /** The guest arch (default x86_64). */
  arch?: LabArch;
}

/** A boot's name: its arch when not x86_64, its kernel, its IOMMU when not Intel's, its workloads. */
export function bootName(boot: Boot): string {
  const arch = boot.arch && boot.arch !== 'x86_64' ? [boot.arch] : [];
  return [...arch, boot.kernel, ...(boot.vendor && boot.vendor !== 'intel' ? [boot.vendor] : []), ...boot.workloads].join('-');
}

/** Where a boot's capture is kept. */
export function capturePath(boot: Boot): string {
  return path.join(LAB_CAPTURES, `${bootName(boot)}.iotrace`);
}

/** Boots, records around the workloads, keeps the capture; returns it with the workloads' ground truth. */
export async function recordAround(boot: Boot): Promise<{ truth: GroundTruth; capture: string }> {
  const outDir = path.join(ROOT, 'build', 'lab-out', bootName(boot));
  fs.mkdirSync(outDir, { recursive: true });
  const capture = path.join(outDir, 'capture.iotrace');
  const r = await runLab({
    kernel: boot.kernel,
    workloads: boot.workloads,
    vendor: boot.vendor,
    arch: boot.arch,
    schedule: 'around',
    readyPattern: 'recording to',
    readyTimeoutMs: 240_000,
    // Settle after attaching, so the workloads' first calls are seen.
    readyDelayMs: 1000,
    command: ['iommutrace', 'record', '-o', capture, '--force', '--leak-age', '0s'],
    outDir,
    timeoutMs: 12 * 60_000,
    onProgress: (m) => process.stderr.write(`# ${m}\n`),
  });
  assert.equal(r.exitCode, 0, `record failed in the guest:\n${r.stderr}\n${r.log.split('\n').slice(-20).join('\n')}`);
  fs.mkdirSync(LAB_CAPTURES, { recursive: true });
  fs.copyFileSync(capture, capturePath(boot));
  return { truth: r.groundTruth, capture };
}

/** The capture the end-to-end tests replay: VFIO traffic on a device, GUP, a leaked reference, a VM, refused maps. */
export const E2E_BOOT: Boot = { kernel: 'debian-6.1', workloads: ['vfio', 'gup', 'leak', 'qemu', 'entrylimit', 'memlock', 'fault'] };

/**
 * A lab capture of `boot`, recorded now when no earlier run left one. Without the
 * lab's prerequisites it is undefined and `why` says why (under CI it throws:
 * a missing prerequisite is a failure there). Call it from a `before()` hook: a boot
 * takes a minute or two.
 */
export async function labCapture(boot: Boot = E2E_BOOT): Promise<{ file?: string; why?: string }> {
  const file = capturePath(boot);
  if (fs.existsSync(file)) return { file };
  const reason = missingPrerequisite(boot.kernel);
  if (reason) {
    if (IN_CI) throw new Error(`prerequisite missing under CI: a lab capture (${reason})`);
    return { why: `no lab capture and no lab here: ${reason}` };
  }
  await prepareKernels([boot.kernel]);
  requirePrerequisites(boot.kernel);
  process.stderr.write(`# no ${path.relative(ROOT, file)} yet: recording it in the lab\n`);
  await recordAround(boot);
  return { file };
}
