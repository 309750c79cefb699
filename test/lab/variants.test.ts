/**
 * Every program variant passes the verifier and attaches on every lab kernel
 * that has its target, not only the planner's first choice: `doctor --attach`
 * inside each guest loads them all, family by family.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';
import type { DoctorReport } from '../../src/commands/doctor';
import { runLab, type KernelName } from '../../src/lab';
import { ROOT } from '../helpers';
import { labTestOptions, prepareKernels, requirePrerequisites } from './prerequisites';

/** Refusals that are the kernel's documented behaviour, per kernel. */
const EXPECTED_REFUSALS: Partial<Record<KernelName, RegExp[]>> = {
  // 7 arguments: more than 6.1's trampolines take (fentry refused as well as fexit).
  'debian-6.1': [/^gup\.pin_remote (fentry|fexit) pin_user_pages_remote: .*ENOTSUPP/],
};


before(() => prepareKernels(['debian-6.1', 'debian-6.12', 'iommufd-6.12']));
for (const kernel of ['debian-6.1', 'debian-6.12', 'iommufd-6.12'] as KernelName[]) {
  test(`${kernel}: every variant whose target exists loads and attaches`, labTestOptions(kernel, 15), async () => {
    requirePrerequisites(kernel);
    const outDir = path.join(ROOT, 'build', 'lab-out', `${kernel}-variants`);
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, 'doctor.json');
    const r = await runLab({
      kernel,
      workloads: 'none',
      iommu: true,
      command: ['sh', '-c', `iommutrace doctor --attach --json > '${file}'`],
      outDir,
      timeoutMs: 12 * 60_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(file, 'utf8')) as DoctorReport;
    const variants = report.variants!;
    const attached = variants.filter((v) => v.status === 'attached');
    const refused = variants
      .filter((v) => v.status === 'refused')
      .map((v) => `${v.probe} ${v.mode} ${v.target}: ${v.reason}`)
      .filter((line) => !(EXPECTED_REFUSALS[kernel] ?? []).some((re) => re.test(line)));
    assert.deepEqual(refused, [], 'refused variants');
    // Every mode family was exercised, and the planner's choices are among what attached.
    for (const mode of ['fexit', 'kretprobe', 'tp_btf', 'raw_tp', 'tracepoint']) {
      assert.ok(attached.some((v) => v.mode === mode), `some ${mode} variant attached`);
    }
    for (const p of report.probes.filter((x) => x.status === 'available')) {
      assert.ok(attached.some((v) => v.probe === p.name && v.mode === p.mode && v.target === p.target), `${p.name} ${p.mode} ${p.target}`);
    }
    console.log(`${kernel}: ${attached.length} variants attached, ${variants.filter((v) => v.status === 'absent').length} absent`);
  });
}
