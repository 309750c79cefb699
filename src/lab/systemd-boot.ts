/**
 * A lab guest whose PID 1 is Debian's own systemd (the host's, over 9p under an
 * overlay: src/lab/systemd-init.sh), with the emulated VT-d and the e1000e as in the
 * other boots. A packed tarball is installed with `npm install -g` into a prefix the
 * guest sees at /usr/local; src/lab/systemd-guest.sh, run as a oneshot service,
 * installs the exporter's unit as README says and leaves what it saw in `.lab/deploy`
 * of the results folder for a test to judge.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareWorkloadBinaries } from './artifacts';
import { GROUND_TRUTH } from './guest-script';
import { prepareInitramfs } from './initramfs';
import { prepareKernel, type KernelName, type PreparedKernel, type Progress } from './kernels';
import { labAssets, labCache, mkdirp } from './paths';
import { run } from './proc';
import { boot } from './qemu';
import { consoleTail, earlyDeath, INIT_STARTED, LabBootError } from './run';
import { workloadArgv } from './workloads';

export interface SystemdLabOptions {
  kernel: KernelName;
  /** The `npm pack` output, installed with `npm install -g` for the guest. */
  tarball: string;
  /** Results folder, shared writable at the same path. */
  outDir: string;
  timeoutMs?: number;
  onProgress?: Progress;
  onConsole?: (line: string) => void;
}

export interface SystemdLabResult {
  /** What the guest's script wrote: one file per fact (systemd-guest.sh says which). */
  results: string;
  log: string;
  logFile: string;
  kernel: PreparedKernel;
  guestMs: number;
  /** How long `npm install -g` took (on the host). */
  installMs: number;
}

const TARGET = 'iommutrace-lab.target';
const SERVICE = 'iommutrace-lab.service';

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Paths go into unit files and shell unquoted in places: keep them plain. */
function plainPath(what: string, p: string): string {
  if (!/^\/[\w./+-]+$/.test(p)) throw new Error(`${what} ${p} has characters a unit file would need quoted: use a plain path`);
  return p;
}

/** The default target (basic.target and the lab's service, none of the host's own services) and the service. */
function units(lab: string, env: Record<string, string>): Record<string, string> {
  return {
    [TARGET]: ['[Unit]', 'Description=iommutrace lab: the deployment test', 'Requires=basic.target', `Wants=${SERVICE}`, 'After=basic.target', 'AllowIsolate=yes', ''].join('\n'),
    [SERVICE]: [
      '[Unit]',
      'Description=iommutrace lab: install the exporter as README says and exercise its unit',
      'After=basic.target',
      // The guest's end either way: the host then reads what the script left.
      'SuccessAction=poweroff-force',
      'FailureAction=poweroff-force',
      '[Service]',
      'Type=oneshot',
      ...Object.entries(env).map(([k, v]) => `Environment=${k}=${v}`),
      `ExecStart=/bin/sh ${lab}/systemd-guest.sh`,
      'StandardOutput=journal+console',
      'StandardError=journal+console',
      'TimeoutStartSec=infinity',
      '',
    ].join('\n'),
  };
}

/** Boots the guest, runs the deployment script and returns where its results are. */
export async function runSystemdLab(opts: SystemdLabOptions): Promise<SystemdLabResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const outDir = plainPath('the results folder', path.resolve(opts.outDir));
  if (labCache().startsWith('/tmp/')) throw new Error(`the lab cache ${labCache()} is under /tmp, which the systemd guest replaces with its own: set IOMMUTRACE_LAB_CACHE elsewhere`);
  const kernel = await prepareKernel(opts.kernel, { onProgress: progress });
  if (!kernel.modulesDir) throw new Error(`${kernel.name} has no modules: the systemd boot loads VFIO as a host does, with modprobe`);
  const initramfs = await prepareInitramfs(kernel, { init: 'systemd-init.sh', bootModules: ['overlay'] });
  const bin = await prepareWorkloadBinaries();

  const lab = path.join(outDir, '.lab');
  fs.rmSync(lab, { recursive: true, force: true });
  fs.rmSync(path.join(outDir, 'ground-truth'), { recursive: true, force: true });
  mkdirp(path.join(lab, 'systemd'));
  // `npm install -g` as README says, into a prefix the guest mounts at /usr/local: npm
  // itself under TCG took 275 s, more than the rest of the boot together.
  const prefix = path.join(lab, 'prefix');
  progress(`npm install -g ${path.basename(opts.tarball)} (prefix ${prefix}, the guest's /usr/local)`);
  const installStarted = Date.now();
  await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', opts.tarball]);
  const installMs = Date.now() - installStarted;
  fs.copyFileSync(path.join(labAssets(), 'systemd-guest.sh'), path.join(lab, 'systemd-guest.sh'));
  const argv = workloadArgv('vfio', bin, null, {}, GROUND_TRUTH).map((a) => (a === GROUND_TRUTH ? '"$OUT/ground-truth/vfio.json"' : shq(a)));
  fs.writeFileSync(path.join(lab, 'deploy.env'), [`BDF=0000:00:03.0`, `workload() { ${argv.join(' ')}; }`, ''].join('\n'));
  const env = {
    OUT: outDir,
    HOME: plainPath('HOME', process.env.HOME ?? '/root'),
    PATH: [path.dirname(process.execPath), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
    LANG: 'C.UTF-8',
    // npm's global prefix where the guest has the package (the host's npm may say /usr).
    npm_config_prefix: '/usr/local',
  };
  for (const [name, text] of Object.entries(units(lab, env))) fs.writeFileSync(path.join(lab, 'systemd', name), text);
  fs.writeFileSync(
    path.join(lab, 'env'),
    [`LAB_OUT=${outDir}`, `LAB_PREFIX=${prefix}`, `LAB_RELEASE=${kernel.release}`, `LAB_MODULES=${plainPath('the modules', kernel.modulesDir)}`, `LAB_TARGET=${TARGET}`, ''].join('\n'),
  );

  progress(`${kernel.name}: booting systemd as PID 1 (intel-iommu)`);
  const logFile = path.join(lab, 'console.log');
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const started = Date.now();
  const bootOnce = () =>
    boot({ bzImage: kernel.bzImage, initramfs, outDir, iommu: true, vendor: 'intel', interactive: false, memoryMiB: 2048, cpus: 2 }, { logFile, timeoutMs, onLine: opts.onConsole });
  let booted = await bootOnce();
  if (!booted.timedOut && !booted.log.includes(INIT_STARTED)) {
    progress(`${kernel.name}: the guest died before init (${earlyDeath(booted.log)}): booting once more`);
    booted = await bootOnce();
  }
  const guestMs = Date.now() - started;
  if (booted.timedOut) throw new LabBootError(`${kernel.name}: the systemd guest did not finish within ${Math.round(timeoutMs / 1000)} s`, consoleTail(booted.log), logFile);
  if (!fs.existsSync(path.join(lab, 'exit-code'))) {
    throw new LabBootError(`${kernel.name}: the systemd guest stopped before its script finished (qemu exit ${booted.qemuStatus})`, consoleTail(booted.log), logFile);
  }
  return { results: path.join(lab, 'deploy'), log: booted.log, logFile, kernel, guestMs, installMs };
}
