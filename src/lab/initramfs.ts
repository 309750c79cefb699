import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PreparedKernel } from './kernels';
import { moduleClosure, type ModuleLoad } from './modules';
import { labAssets, mkdirp, withCacheLock } from './paths';
import { run } from './proc';

const BUSYBOX = '/bin/busybox';

/** What the initramfs loads: the 9p root first, VFIO when a run asks for it. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'brd'];
const VFIO_MODULES = ['irqbypass', 'vfio', 'vfio_iommu_type1', 'vfio_virqfd', 'vfio_pci_core', 'vfio_pci'];
/** The lab device's own driver (QEMU's e1000e), for runs that leave it on it. */
const DRIVER_MODULES = ['e1000e'];
const MODULE_PARAMS: Record<string, string[]> = {
  // Without it VFIO_SET_IOMMU fails with EPERM: the emulated IOMMU has no interrupt remapping.
  vfio_iommu_type1: ['allow_unsafe_interrupts=1'],
  // One small RAM disk for the O_DIRECT reads of the gup workload.
  brd: ['rd_nr=1', 'rd_size=16384'],
};

/** VFIO's modules for this kernel in load order, with their parameters (for runs that load them late). */
export function vfioModules(kernel: PreparedKernel): ModuleLoad[] {
  return kernel.modulesDir ? moduleClosure(kernel.modulesDir, VFIO_MODULES, MODULE_PARAMS) : [];
}

/** Another PID 1 for the initramfs (a file in src/lab) and modules its boot needs beyond BOOT_MODULES. */
export interface InitramfsVariant {
  init: string;
  bootModules: string[];
}

/** Builds (once per kernel and init script) the busybox initramfs; returns its path. busybox: the guest arch's (arm64's from its root). */
export async function prepareInitramfs(kernel: PreparedKernel, variant?: InitramfsVariant, busybox = BUSYBOX): Promise<string> {
  const init = fs.readFileSync(path.join(labAssets(), variant?.init ?? 'init.sh'));
  const boot = [...BOOT_MODULES, ...(variant?.bootModules ?? [])];
  const lists = {
    'boot.list': kernel.modulesDir ? moduleClosure(kernel.modulesDir, boot, MODULE_PARAMS) : [],
    'vfio.list': vfioModules(kernel),
    'driver.list': kernel.modulesDir ? moduleClosure(kernel.modulesDir, DRIVER_MODULES, MODULE_PARAMS) : [],
  };
  const bb = fs.statSync(busybox);
  const key = createHash('sha256')
    .update(init)
    .update(JSON.stringify(lists))
    .update(`${bb.size} ${bb.mtimeMs}`)
    .digest('hex')
    .slice(0, 12);
  const out = path.join(kernel.dir, `initramfs-${key}.cpio.gz`);
  if (fs.existsSync(out)) return out;
  const lock = kernel.arch === 'arm64' ? `initramfs-arm64-${kernel.name}` : `initramfs-${kernel.name}`;
  return withCacheLock(lock, async () => (fs.existsSync(out) ? out : buildInitramfs(kernel, init, lists, out, busybox)));
}

async function buildInitramfs(kernel: PreparedKernel, init: Buffer, lists: Record<string, ModuleLoad[]>, out: string, busybox: string): Promise<string> {

  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-initramfs-'));
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'host', 'out', 'modules']) mkdirp(path.join(tree, d));
    fs.copyFileSync(busybox, path.join(tree, 'bin', 'busybox'));
    fs.chmodSync(path.join(tree, 'bin', 'busybox'), 0o755);
    fs.writeFileSync(path.join(tree, 'init'), init, { mode: 0o755 });
    for (const [list, mods] of Object.entries(lists)) {
      for (const m of mods) await copyModule(kernel.modulesDir!, m, path.join(tree, 'modules'));
      fs.writeFileSync(path.join(tree, 'modules', list), mods.map((m) => [koName(m), ...m.params].join(' ') + '\n').join(''));
    }
    const tmp = `${out}.tmp-${process.pid}`;
    await run('sh', ['-c', `find . | cpio -o -H newc --quiet | gzip -6 > '${tmp}'`], { cwd: tree });
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tree, { recursive: true, force: true });
  }
  return out;
}

function koName(m: ModuleLoad): string {
  return `${m.name}.ko`;
}

/** busybox insmod reads only plain .ko files: decompress Debian's .ko.xz/.ko.zst. */
async function copyModule(modulesDir: string, m: ModuleLoad, dest: string): Promise<void> {
  const src = path.join(modulesDir, m.file);
  const target = path.join(dest, koName(m));
  if (m.file.endsWith('.ko')) return fs.copyFileSync(src, target);
  const tool = m.file.endsWith('.xz') ? 'xz' : m.file.endsWith('.zst') ? 'zstd' : null;
  if (!tool) throw new Error(`cannot decompress module ${m.file}`);
  await run('sh', ['-c', `${tool} -dc '${src}' > '${target}'`]);
}
