import * as Flags from '@oclif/core/flags';
import { BaseCommand, UserError } from '../command';
import {
  IOMMU_VENDORS,
  KERNEL_NAMES,
  LabBootError,
  LabWorkloadError,
  isWorkloadSelection,
  runLab,
  WORKLOAD_NAMES,
  type IommuVendor,
  type KernelName,
  type LabResult,
  type WorkloadSelection,
} from '../lab';
import { ARM64_KERNEL_NAMES, LAB_ARCHES, type LabArch } from '../lab/arch';
import { prepareLab } from '../lab/prepare';

export default class Lab extends BaseCommand {
  static override summary = 'Boot a throwaway QEMU guest with an emulated IOMMU, run a workload and an iommutrace command inside.';

  static override description = `Prepares and caches the kernel under ~/.cache/iommutrace/lab (IOMMUTRACE_LAB_CACHE overrides):
Debian's 6.1 and 6.12 packages, or a 6.12 built with iommufd and its test mock. Boots it under
QEMU (TCG, q35, intel-iommu or with --iommu amd amd-iommu, an e1000e at 0000:00:03.0 bound to vfio-pci), with the host root
shared read-only and the results folder shared writable at the same path (--arch arm64: Debian's
arm64 kernels under qemu-system-aarch64, virt with SMMUv3, on a small arm64 root with this clone
on top). Runs the workload,
whose ground truth lands in <out>/ground-truth/, and the command after "--" (default:
iommutrace top), then powers off and exits with the command's exit code.`;

  static override examples = [
    '<%= config.bin %> lab --kernel debian-6.1 --workload vfio',
    '<%= config.bin %> lab --kernel debian-6.12 --workload leak -- iommutrace doctor --json',
    '<%= config.bin %> lab --kernel iommufd-6.12 --workload dirty --schedule around -- iommutrace record -o lab-out/dirty.iotrace',
    '<%= config.bin %> lab --prepare --kernel all',
    '<%= config.bin %> lab --arch arm64 --kernel debian-6.12 --workload vfio -- iommutrace doctor',
  ];

  static override strict = false;

  static override flags = {
    kernel: Flags.string({ description: 'kernel to boot (with --prepare, also all)', options: [...KERNEL_NAMES, 'all'], default: 'debian-6.1' }),
    iommu: Flags.string({ description: 'the emulated IOMMU: intel (VT-d, the default) or amd (AMD-Vi) on x86_64; smmuv3 on arm64', options: [...IOMMU_VENDORS] }),
    arch: Flags.string({ description: 'the guest: x86_64 (q35) or arm64 (virt with SMMUv3, Debian 6.1 and 6.12 only)', options: [...LAB_ARCHES], default: 'x86_64' }),
    prepare: Flags.boolean({ description: 'download and build what the kernel needs (packages, the iommufd build, initramfs, workloads), then exit', default: false }),
    workload: Flags.string({
      description: `workload to run: ${WORKLOAD_NAMES.join(', ')} (the README says which kernels each needs), all (that apply to the kernel) or none`,
      default: 'all',
    }),
    out: Flags.string({ description: 'results folder, shared writable with the guest', default: 'lab-out' }),
    schedule: Flags.string({
      description: 'before: workload, then command; around: command in the background around the workload; background: workload in the background while the command runs (default: background on a terminal, else before)',
      options: ['before', 'around', 'background'],
    }),
    ready: Flags.string({ description: 'with around/background: wait until the command prints a line matching this regexp' }),
    interactive: Flags.boolean({ description: 'give the guest this terminal (default: when stdin and stdout are terminals)', allowNo: true }),
    timeout: Flags.string({ description: 'kill a batch run after this long (e.g. 90s, 10m)', default: '10m' }),
    rounds: Flags.integer({ description: 'vfio: MAP_DMA + UNMAP_DMA rounds', min: 1 }),
    'size-mib': Flags.integer({ description: 'vfio: MiB mapped per round', min: 1 }),
    walks: Flags.integer({ description: 'dirty: dirty-bitmap reads', min: 1 }),
    'leak-gets': Flags.integer({ description: 'leak: group references taken', min: 1 }),
    'leak-keep': Flags.integer({ description: 'leak: references kept (leaked) until unload', min: 0 }),
    json: Flags.boolean({ description: 'batch: print the ground truth and exit code as JSON instead of the command output', default: false }),
  };

  async run(): Promise<void> {
    // Everything after -- is the guest's argv, verbatim (oclif's parser reorders argv).
    const all = [...this.argv];
    const dash = all.indexOf('--');
    const { flags, argv } = await this.parse(Lab, dash < 0 ? all : all.slice(0, dash));
    if (argv.length) throw new UserError(`unexpected argument ${String(argv[0])}: put the command to run after --`);
    const command = dash < 0 ? ['iommutrace', 'top'] : all.slice(dash + 1);
    if (command.length === 0) throw new UserError('nothing after --: give the command to run in the guest');
    if (!isWorkloadSelection(flags.workload)) throw new UserError(`unknown workload ${flags.workload}: use ${WORKLOAD_NAMES.join(', ')}, all or none`);
    if (process.getuid?.() !== 0) throw new UserError('the lab needs root (it shares the host root with the guest as-is)');
    const arch = flags.arch as LabArch;
    if (flags.prepare) return prepareKernels(flags.kernel === 'all' ? (arch === 'arm64' ? ARM64_KERNEL_NAMES : KERNEL_NAMES) : [flags.kernel as KernelName], arch);
    if (flags.kernel === 'all') throw new UserError('--kernel all goes with --prepare: a run boots one kernel');
    const interactive = flags.interactive ?? (!flags.json && !!process.stdin.isTTY && !!process.stdout.isTTY);
    const timeoutMs = parseDuration(flags.timeout);

    // Interactive runs hand the terminal to QEMU next: leave each step on its own line.
    const progress = new ProgressLine(!interactive && !!process.stderr.isTTY);
    let result: LabResult;
    try {
      result = await runLab({
        kernel: flags.kernel as KernelName,
        workloads: flags.workload as WorkloadSelection,
        command,
        outDir: flags.out,
        interactive,
        vendor: flags.iommu as IommuVendor | undefined,
        arch,
        schedule: flags.schedule as 'before' | 'around' | 'background' | undefined,
        readyPattern: flags.ready,
        timeoutMs: interactive ? undefined : timeoutMs,
        params: {
          vfio: { rounds: flags.rounds, sizeMiB: flags['size-mib'] },
          dirty: { walks: flags.walks },
          leak: { gets: flags['leak-gets'], keep: flags['leak-keep'] },
        },
        onProgress: (m) => progress.show(m),
      });
    } catch (err) {
      progress.done();
      if (err instanceof LabBootError) {
        if (err.consoleTail.length) process.stderr.write(`iommutrace lab: last lines of the guest console (all of it: ${err.logFile}):\n`);
        for (const l of err.consoleTail) process.stderr.write(`  ${l}\n`);
        throw new UserError(err.summary);
      }
      if (err instanceof LabWorkloadError) throw new UserError(err.message);
      throw err;
    }
    progress.done();

    if (flags.json) {
      const { exitCode, groundTruth, outDir, kernel, iommu, vendor, arch: guestArch, workloads, guestMs } = result;
      this.log(JSON.stringify({ exitCode, kernel: { name: kernel.name, release: kernel.release }, arch: guestArch, iommu, vendor: iommu ? vendor : null, workloads, outDir, guestMs, groundTruth }, null, 2));
    } else if (!interactive) {
      process.stdout.write(result.stdout);
      process.stderr.write(result.stderr);
      const truths = Object.keys(result.groundTruth).map((w) => `${result.outDir}/ground-truth/${w}.json`);
      process.stderr.write(`iommutrace lab: ${result.kernel.release}, guest ran ${(result.guestMs / 1000).toFixed(1)} s, command exit ${result.exitCode}${truths.length ? `; ground truth: ${truths.join(' ')}` : ''}\n`);
    }
    process.exitCode = result.exitCode;
  }
}

/** `--prepare`: each kernel's outcome on its own line; exit 1 when one failed. */
async function prepareKernels(kernels: readonly KernelName[], arch: LabArch): Promise<void> {
  const progress = new ProgressLine(!!process.stderr.isTTY);
  const outcomes = await prepareLab(kernels, (m) => progress.show(m), arch);
  progress.done();
  for (const o of outcomes) {
    if (o.ok) process.stderr.write(`iommutrace lab: ${o.kernel} ready (${o.release}, ${o.seconds} s)\n`);
    else process.stderr.write(`iommutrace lab: ${o.error}\n`);
  }
  if (outcomes.some((o) => !o.ok)) process.exitCode = 1;
}

function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new UserError(`bad duration ${s}: use e.g. 90s or 10m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** Progress on stderr: one line rewritten in place, or a line per step. */
class ProgressLine {
  private open = false;

  constructor(private readonly tty: boolean) {}

  show(message: string): void {
    if (this.tty) {
      process.stderr.write(`\r\x1b[K${message.slice(0, (process.stderr.columns || 80) - 1)}`);
      this.open = true;
    } else {
      process.stderr.write(`iommutrace lab: ${message}\n`);
    }
  }

  done(): void {
    if (this.open) process.stderr.write('\r\x1b[K');
    this.open = false;
  }
}
