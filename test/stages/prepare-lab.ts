/**
 * The test suite's first stage (src/scripts/test.sh): downloads, unpacks and builds
 * everything the lab boots (Debian's kernels, the iommufd kernel, initramfs images,
 * workloads, the leak module) before any test runs, so that test timeouts guard
 * against hangs and never against a slow compiler. Writes each kernel's outcome to
 * the file named by IOMMUTRACE_LAB_PREPARE_STATUS; the lab tests fail at once on a
 * kernel that failed here instead of building it again inside their timeouts.
 */
import * as fs from 'node:fs';
import { KERNEL_NAMES, type KernelName } from '../../src/lab';
import { prepareLab, type PrepareOutcome } from '../../src/lab/prepare';
import { IN_CI } from '../helpers';
import { ARM64_TEST_KERNELS, missingPrerequisite } from '../lab/prerequisites';

const started = Date.now();
const stamp = (): string => `${String(Math.round((Date.now() - started) / 1000)).padStart(4)} s`;

/** One line per step; the kernel build's object count at most every 30 s. */
let lastCount = 0;
function progress(message: string): void {
  if (/compiling, \d+ objects/.test(message)) {
    if (Date.now() - lastCount < 30_000) return;
    lastCount = Date.now();
  }
  process.stdout.write(`# lab prepare ${stamp()}: ${message}\n`);
}

async function main(): Promise<number> {
  const statusFile = process.env.IOMMUTRACE_LAB_PREPARE_STATUS;
  const kernels: KernelName[] = [];
  const outcomes: PrepareOutcome[] = [];
  for (const k of KERNEL_NAMES) {
    const reason = missingPrerequisite(k);
    if (!reason) kernels.push(k);
    else if (IN_CI) outcomes.push({ kernel: k, ok: false, seconds: 0, error: `lab prerequisite missing: ${reason}` });
    else process.stdout.write(`# lab prepare: skipping ${k}: ${reason}\n`);
  }
  outcomes.push(...(await prepareLab(kernels, progress)));
  // The arm64 boots of the lab stage: their kernels, the arm64 root, the cross-built workloads.
  const arm64 = missingPrerequisite(undefined, 'arm64');
  if (!arm64) outcomes.push(...(await prepareLab(ARM64_TEST_KERNELS, (m) => progress(`arm64 ${m}`), 'arm64')));
  else if (IN_CI) outcomes.push(...ARM64_TEST_KERNELS.map((k) => ({ kernel: k, arch: 'arm64' as const, ok: false, seconds: 0, error: `lab prerequisite missing: ${arm64}` })));
  else process.stdout.write(`# lab prepare: skipping arm64: ${arm64}\n`);
  if (statusFile) fs.writeFileSync(statusFile, JSON.stringify(outcomes, null, 2) + '\n');
  for (const o of outcomes) {
    const name = o.arch ? `${o.arch} ${o.kernel}` : o.kernel;
    process.stdout.write(o.ok ? `# lab prepare: ${name} ready (${o.release}) in ${o.seconds} s\n` : `# lab prepare: ${name} FAILED: ${o.error}\n`);
  }
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`lab prepare: ${err.message}\n`);
    process.exit(1);
  },
);
