import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../loader/native';
import { type LabArch } from './arch';
import { ARM64_LIBRARY_PATH, ARM64_NODE, arm64Binds, prepareArm64Root } from './arm64';
import { prepareLeakModule, prepareWorkloadBinaries } from './artifacts';
import { GROUND_TRUTH, guestScript, type Schedule } from './guest-script';
import { prepareInitramfs } from './initramfs';
import { prepareKernel, type KernelName, type PreparedKernel, type Progress } from './kernels';
import { labCache, mkdirp } from './paths';
import { ARCH_VENDORS, boot, type IommuVendor } from './qemu';
import { isEarly, LAB_DEVICE, planWorkloads, workloadArgv, type GroundTruth, type WorkloadName, type WorkloadParams, type WorkloadSelection } from './workloads';

export interface RunLabOptions {
  kernel: KernelName;
  /** Default `all` (every workload that applies to the kernel). */
  workloads?: WorkloadSelection | WorkloadName[];
  /** Argv run inside the guest; `iommutrace` and `iommutop` are on its PATH. None: only the workloads. */
  command?: string[];
  /** Results folder, shared writable at the same path; default ./lab-out. */
  outDir?: string;
  /** The caller's terminal becomes the guest's serial console (for a TUI). */
  interactive?: boolean;
  /** Default: `background` when interactive, else `before`. See Schedule. */
  schedule?: Schedule;
  /** `around`/`background`: wait until the command prints a line matching this extended regexp (batch only). */
  readyPattern?: string;
  readyTimeoutMs?: number;
  /** `around`/`background`: then wait this long before the workloads (default 0; 3 s when interactive). */
  readyDelayMs?: number;
  /** `around`: how the command is stopped after the workloads (default INT). */
  stopSignal?: 'INT' | 'TERM';
  /** `background`: run the workloads again and again until the command exits (default: when interactive). */
  repeat?: boolean;
  /** Emulate an IOMMU; by default decided by the workloads. */
  iommu?: boolean;
  /**
   * `late`: VFIO's modules are not loaded at boot and the device is left unbound, for
   * a command that loads them itself (as hosts do when the first VM starts).
   */
  vfio?: 'boot' | 'late';
  /** Which one: Intel VT-d (default) or AMD-Vi on x86_64, SMMUv3 on arm64. */
  vendor?: IommuVendor;
  /** The guest's arch (default x86_64): arm64 boots Debian's arm64 kernels on QEMU's virt with SMMUv3. */
  arch?: LabArch;
  params?: WorkloadParams;
  /** Kills the guest after this long; default 10 minutes in batch mode, none interactive. */
  timeoutMs?: number;
  memoryMiB?: number;
  cpus?: number;
  /** More kernel arguments, e.g. `possible_cpus=256` (x86 before 6.9; Debian 6.12 ignores it, and QEMU's maxcpus too). */
  kernelArgs?: string[];
  /** Extra environment for the command and workloads in the guest. */
  env?: Record<string, string>;
  onProgress?: Progress;
  /** Every serial console line as it arrives (batch mode). */
  onConsole?: (line: string) => void;
}

export interface LabResult {
  /** Exit status of the command inside the guest (0 when there was none). */
  exitCode: number;
  groundTruth: GroundTruth;
  /** The command's output (batch mode; empty when interactive). */
  stdout: string;
  stderr: string;
  /** The serial console (batch mode). */
  log: string;
  logFile: string;
  outDir: string;
  kernel: PreparedKernel;
  iommu: boolean;
  vendor: IommuVendor;
  arch: LabArch;
  workloads: WorkloadName[];
  /** From QEMU's start to its exit. */
  guestMs: number;
}

/** A boot that never reached the end of its run script; the message ends with the console's last lines. */
export class LabBootError extends Error {
  constructor(
    readonly summary: string,
    readonly consoleTail: string[],
    readonly logFile: string,
  ) {
    super(consoleTail.length ? `${summary}; last console lines:\n${consoleTail.join('\n')}` : summary);
  }
}

/** A workload that failed inside the guest. */
export class LabWorkloadError extends Error {}

const BATCH_TIMEOUT_MS = 10 * 60 * 1000;

/** The first line src/lab/init.sh prints. */
export const INIT_STARTED = 'iommutrace-lab: init started';

/** The console's panic or oops line, for the retry message. */
export function earlyDeath(log: string): string {
  const line = log.split('\n').find((l) => /Kernel panic|Oops|BUG:/.test(l));
  return line ? line.replace(/^\[[\s\d.]+\]\s*/, '').trim().slice(0, 120) : 'no panic line on the console';
}

/**
 * The guest sees the host root, except where it mounts file systems of its own:
 * /tmp and /run get a tmpfs, with what we need from there bound back (LAB_KEEP).
 */
function keptPaths(): string[] {
  const keep: string[] = [];
  for (const [what, p] of [['the lab cache (IOMMUTRACE_LAB_CACHE)', labCache()], ['iommutrace itself', PACKAGE_ROOT]]) {
    if (/^\/(dev|proc|sys)(\/|$)/.test(p)) throw new Error(`${what} is under ${p.split('/')[1]}, which the guest cannot see: move it`);
    if (/^\/(tmp|run)\//.test(p)) {
      if (/\s|'/.test(p)) throw new Error(`${what} is under ${p.split('/')[1]} at a path with spaces or quotes: move it`);
      keep.push(p);
    }
  }
  return keep;
}

/** Terminal control sequences (SeaBIOS clears the screen) stripped, blank lines dropped: the console's last lines. */
export function consoleTail(log: string): string[] {
  return log
    .replace(/\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, '')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .slice(-25);
}

/** What the guest reads: its script (workloads and command) and, for the initramfs, its environment. */
function writeGuestFiles(
  lab: string,
  opts: RunLabOptions,
  g: { plan: ReturnType<typeof planWorkloads>; kernel: PreparedKernel; bin: string; leakModule: string | null; outDir: string; keep: string[]; binds: string[] },
): void {
  const { plan, kernel, bin, leakModule, outDir, keep, binds } = g;
  const arm64 = kernel.arch === 'arm64';
  const interactive = opts.interactive ?? false;
  const schedule = opts.schedule ?? (interactive ? 'background' : 'before');
  const tty = interactive && process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
  fs.writeFileSync(
    path.join(lab, 'run.sh'),
    guestScript({
      outDir,
      cwd: process.cwd(),
      workloads: plan.workloads.map((w) => ({ name: w, argv: workloadArgv(w, bin, leakModule, opts.params ?? {}, GROUND_TRUTH), early: isEarly(w) })),
      command: opts.command && opts.command.length ? opts.command : null,
      schedule,
      readyPattern: opts.readyPattern,
      readyTimeoutMs: opts.readyTimeoutMs ?? 60_000,
      readyDelayMs: opts.readyDelayMs ?? (interactive ? 3000 : 0),
      stopSignal: opts.stopSignal ?? 'INT',
      repeat: opts.repeat ?? interactive,
      interactive,
      tty,
      env: {
        HOME: process.env.HOME ?? '/root',
        LANG: 'C.UTF-8',
        TERM: process.env.TERM ?? 'xterm-256color',
        IOMMUTRACE_LAB_KERNEL: kernel.name,
        // The arm64 root has no ld.so.cache: glibc's multiarch directories by name.
        ...(arm64 ? { LD_LIBRARY_PATH: ARM64_LIBRARY_PATH } : {}),
        ...opts.env,
      },
      path: [path.join(lab, 'bin'), path.dirname(arm64 ? ARM64_NODE : process.execPath)],
    }),
  );
  // Read by the initramfs before it can see anything else of the host.
  fs.writeFileSync(
    path.join(lab, 'env'),
    [
      `LAB_OUT='${outDir.replace(/'/g, `'\\''`)}'`,
      `LAB_VFIO=${plan.bindVfio && opts.vfio !== 'late' ? 1 : 0}`,
      `LAB_DRIVER=${plan.bindDriver ? 1 : 0}`,
      `LAB_BDF=${LAB_DEVICE}`,
      `LAB_KEEP='${keep.join(' ')}'`,
      `LAB_BINDS='${binds.join(' ')}'`,
      `LAB_CONSOLE=${arm64 ? 'ttyAMA0' : 'ttyS0'}`,
      '',
    ].join('\n'),
  );

}

/** Prepares what is missing (kernel, initramfs, workloads), boots the guest, runs, and collects. */
export async function runLab(opts: RunLabOptions): Promise<LabResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const interactive = opts.interactive ?? false;
  const arch = opts.arch ?? 'x86_64';
  const vendor = opts.vendor ?? ARCH_VENDORS[arch][0];
  if (!ARCH_VENDORS[arch].includes(vendor)) throw new Error(`--iommu ${vendor} is not emulated on ${arch} (${ARCH_VENDORS[arch].join(', ')})`);
  const plan = planWorkloads(opts.kernel, opts.workloads ?? 'all', opts.iommu, arch);
  const outDir = path.resolve(opts.outDir ?? 'lab-out');
  if (outDir === '/') throw new Error('the results folder cannot be /');
  const keep = keptPaths();

  const kernel = await prepareKernel(opts.kernel, { onProgress: progress, arch });
  progress(`${kernel.name}: ${kernel.release}, preparing initramfs and workloads`);
  // arm64: its own root, with the clone and the lab cache shared on top.
  const root = arch === 'arm64' ? await prepareArm64Root(progress) : null;
  const binds = root ? arm64Binds(root, [PACKAGE_ROOT, labCache()], outDir) : [];
  const initramfs = await prepareInitramfs(kernel, undefined, root?.busybox);
  const bin = await prepareWorkloadBinaries(arch);
  const leakModule = plan.workloads.includes('leak') ? await prepareLeakModule(kernel) : null;

  const lab = path.join(outDir, '.lab');
  fs.rmSync(lab, { recursive: true, force: true });
  fs.rmSync(path.join(outDir, 'ground-truth'), { recursive: true, force: true });
  mkdirp(path.join(lab, 'bin'));
  writeCliWrappers(path.join(lab, 'bin'), root ? ARM64_NODE : process.execPath);

  writeGuestFiles(lab, opts, { plan, kernel, bin, leakModule, outDir, keep, binds });

  progress(`${kernel.name}: booting${root ? ' arm64' : ''} (${plan.iommu ? `${vendor}-iommu` : 'no IOMMU'}; workloads: ${plan.workloads.join(', ') || 'none'})`);
  const logFile = path.join(lab, 'console.log');
  const started = Date.now();
  const bootOnce = () =>
    boot(
      {
        bzImage: kernel.bzImage, initramfs, outDir, iommu: plan.iommu, vendor, interactive, memoryMiB: opts.memoryMiB ?? 2048, cpus: opts.cpus ?? 2,
        arch, rootDir: root?.dir, binds, kernelArgs: opts.kernelArgs,
      },
      { logFile, timeoutMs: opts.timeoutMs ?? (interactive ? undefined : BATCH_TIMEOUT_MS), onLine: opts.onConsole },
    );
  let booted = await bootOnce();
  // Under TCG a kernel now and then dies before its init runs (DESIGN.md: "Boot flake"):
  // nothing of ours ran yet, so one more boot is fair; a guest that got further is never retried.
  if (!interactive && !booted.timedOut && !booted.log.includes(INIT_STARTED)) {
    progress(`${kernel.name}: the guest died before init (${earlyDeath(booted.log)}): booting once more`);
    booted = await bootOnce();
  }
  const guestMs = Date.now() - started;

  const tail = (): string[] => consoleTail(booted.log);
  if (booted.timedOut) {
    throw new LabBootError(`${kernel.name}: the guest did not finish within ${Math.round((opts.timeoutMs ?? BATCH_TIMEOUT_MS) / 1000)} s`, tail(), logFile);
  }
  const exitFile = path.join(lab, 'exit-code');
  if (!fs.existsSync(exitFile)) {
    throw new LabBootError(`${kernel.name}: the guest stopped before its run finished (qemu exit ${booted.qemuStatus})`, tail(), logFile);
  }
  const exitCode = Number(fs.readFileSync(exitFile, 'utf8').trim());

  const groundTruth = collectGroundTruth(outDir, lab, plan.workloads, !(opts.repeat ?? interactive));
  const read = (f: string): string => (fs.existsSync(path.join(lab, f)) ? fs.readFileSync(path.join(lab, f), 'utf8') : '');
  return {
    exitCode,
    groundTruth,
    stdout: read('stdout'),
    stderr: read('stderr'),
    log: booted.log,
    logFile,
    outDir,
    kernel,
    iommu: plan.iommu,
    vendor,
    arch,
    workloads: plan.workloads,
    guestMs,
  };
}

/** `iommutrace`/`iommutop` inside the guest are this very build, run by this node (arm64: the root's). */
function writeCliWrappers(dir: string, node: string): void {
  const binDir = path.resolve(__dirname, '..', 'bin');
  for (const name of ['iommutrace', 'iommutop']) {
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nexec '${node}' '${path.join(binDir, `${name}.js`)}' "$@"\n`, { mode: 0o755 });
  }
}

function collectGroundTruth(outDir: string, lab: string, workloads: WorkloadName[], strict: boolean): GroundTruth {
  const truth: Record<string, unknown[]> = {};
  for (const w of workloads) {
    const runs: unknown[] = [];
    for (let n = 1; ; n++) {
      const sfx = n === 1 ? '' : `.${n}`;
      const rcFile = path.join(lab, `workload-${w}${sfx}.rc`);
      if (!fs.existsSync(rcFile)) break;
      const rc = Number(fs.readFileSync(rcFile, 'utf8').trim());
      const file = path.join(outDir, 'ground-truth', `${w}${sfx}.json`);
      if (rc !== 0 || !fs.existsSync(file)) {
        if (!strict) continue;
        const log = fs.readFileSync(path.join(lab, `workload-${w}${sfx}.log`), 'utf8').trim().split('\n').slice(-3).join(' | ');
        throw new LabWorkloadError(`workload ${w} failed (exit ${rc}): ${log}`);
      }
      runs.push(JSON.parse(fs.readFileSync(file, 'utf8')));
    }
    if (strict && runs.length === 0) throw new LabWorkloadError(`workload ${w} did not run`);
    if (runs.length) truth[w] = runs;
  }
  return truth as GroundTruth;
}
