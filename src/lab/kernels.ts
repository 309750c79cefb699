import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apt, ARM64_KERNEL_NAMES, debianFlavour, type LabArch } from './arch';
import { labAssets, labCache, mkdirp, withCacheLock, writeAtomic } from './paths';
import { run } from './proc';

export const KERNEL_NAMES = ['debian-6.1', 'debian-6.12', 'iommufd-6.12'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** A kernel ready to boot, as recorded in its cache directory's kernel.json. */
export interface PreparedKernel {
  name: KernelName;
  /** `uname -r` inside the guest. */
  release: string;
  /** Where this kernel's files live in the cache. */
  dir: string;
  bzImage: string;
  /** lib/modules/<release> with modules.dep, or null when everything is built in. */
  modulesDir: string | null;
  /** A tree to build external modules against (`make -C <kbuildDir> M=...`). */
  kbuildDir: string;
  /** Debian packages it came from, or the source package and config hash it was built from. */
  origin: string[];
  /** The guest's architecture (absent in caches written before arm64: x86_64). */
  arch?: LabArch;
}

export type Progress = (message: string) => void;

export interface PrepareOptions {
  onProgress?: Progress;
  /** The guest's architecture; default x86_64. */
  arch?: LabArch;
}

const SYMBOLS_IOMMUFD = ['iova_bitmap_for_each', 'gup_fast_fallback', 'iommu_attach_device', 'iommufd_access_pin_pages'];

/** Downloads or builds a kernel once; later calls return the cached one. */
export async function prepareKernel(name: KernelName, opts: PrepareOptions = {}): Promise<PreparedKernel> {
  const progress = opts.onProgress ?? (() => undefined);
  const arch = opts.arch ?? 'x86_64';
  if (arch === 'arm64' && !(ARM64_KERNEL_NAMES as readonly string[]).includes(name)) {
    throw new Error(`kernel ${name} is not in the arm64 lab (${ARM64_KERNEL_NAMES.join(', ')})`);
  }
  return withCacheLock(arch === 'x86_64' ? `kernel-${name}` : `kernel-${arch}-${name}`, async () => {
    switch (name) {
      case 'debian-6.1':
        return prepareDebian(name, await resolveDebianAbi('6.1', arch), progress, arch);
      case 'debian-6.12':
        return prepareDebian(name, await resolveDebianAbi('6.12', arch), progress, arch);
      case 'iommufd-6.12':
        return buildIommufdKernel(progress);
    }
  });
}

function readPrepared(dir: string): PreparedKernel | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'kernel.json'), 'utf8')) as PreparedKernel;
  } catch {
    return null;
  }
}

async function aptDepends(pkg: string, arch: LabArch = 'x86_64'): Promise<string[]> {
  const out = await apt(arch, 'apt-cache', ['depends', '--no-recommends', '--no-suggests', pkg]);
  return [...out.matchAll(/^\s*\|?Depends: (\S+)/gm)].map((m) => m[1]);
}

/**
 * The ABI (e.g. 6.1.0-56 or 6.12.117+deb12) of the newest amd64 (or arm64) kernel of
 * a series that apt knows: through the meta-packages first, else the newest matching name.
 */
export async function resolveDebianAbi(series: '6.1' | '6.12', arch: LabArch = 'x86_64'): Promise<string> {
  const flavour = debianFlavour(arch);
  const fromMeta = async (meta: string): Promise<string | undefined> => {
    try {
      for (const dep of await aptDepends(meta, arch)) {
        const m = new RegExp(`^linux-(?:image|headers)-(.+)-${flavour}$`).exec(dep);
        if (m && m[1].startsWith(`${series}.`)) return m[1];
      }
    } catch {
      // meta-package unknown to apt: fall back to the search below
    }
    return undefined;
  };
  const abi = (await fromMeta(`linux-image-${flavour}`)) ?? (await fromMeta(`linux-headers-${series}-${flavour}`));
  if (abi) return abi;
  const esc = series.replace('.', '\\.');
  const names = (await apt(arch, 'apt-cache', ['search', '--names-only', `^linux-image-${esc}\\.[0-9].*-${flavour}-unsigned$`]))
    .split('\n')
    .map((l) => new RegExp(`^linux-image-(\\S+)-${flavour}-unsigned `).exec(l)?.[1])
    .filter((s): s is string => !!s && !s.endsWith('-cloud') && !s.endsWith('-rt'));
  if (names.length === 0) throw new Error(`apt knows no linux-image-${series}.*-${flavour}-unsigned package (run apt-get update, or src/scripts/setup.sh)`);
  return names.sort(compareVersions).at(-1)!;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[^0-9]+/).map(Number);
  const pb = b.split(/[^0-9]+/).map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

async function prepareDebian(name: KernelName, abi: string, progress: Progress, arch: LabArch = 'x86_64'): Promise<PreparedKernel> {
  const release = `${abi}-${debianFlavour(arch)}`;
  const dir = arch === 'x86_64' ? path.join(labCache(), 'kernels', name, abi) : path.join(labCache(), arch, 'kernels', name, abi);
  const cached = readPrepared(dir);
  if (cached) return cached;

  const kbuild = (await aptDepends(`linux-headers-${release}`, arch)).find((d) => d.startsWith('linux-kbuild-'));
  if (!kbuild) throw new Error(`cannot tell which linux-kbuild package linux-headers-${release} needs`);
  // The image and its arch's headers from the guest's index; the common headers (all
  // architectures) and kbuild (fixdep, modpost: programs this machine runs) from the host's.
  const packages: [string, LabArch][] = [
    [`linux-image-${release}-unsigned`, arch],
    [`linux-headers-${release}`, arch],
    [`linux-headers-${abi}-common`, 'x86_64'],
    [kbuild, 'x86_64'],
  ];
  const files: string[] = [];
  for (const [pkg, from] of packages) files.push(await debianPackage(pkg, from, (m) => progress(`${name}: ${m}`)));

  const root = path.join(dir, 'root');
  fs.rmSync(root, { recursive: true, force: true });
  mkdirp(root);
  for (const f of files) {
    progress(`${name}: unpacking ${path.basename(f)}`);
    await run('dpkg', ['-x', f, root]);
  }
  rebaseAbsoluteSymlinks(path.join(root, 'usr', 'src'), root);
  // The arch headers' Makefile includes the common one by absolute path.
  const kbuildDir = path.join(root, 'usr', 'src', `linux-headers-${release}`);
  const makefile = path.join(kbuildDir, 'Makefile');
  fs.writeFileSync(makefile, fs.readFileSync(makefile, 'utf8').replace(/(^|\s)\/usr\/src\//gm, `$1${root}/usr/src/`));
  const modulesDir = path.join(root, 'lib', 'modules', release);
  progress(`${name}: depmod ${release}`);
  await run('depmod', ['-b', root, release]);

  const kernel: PreparedKernel = {
    name,
    release,
    dir,
    bzImage: path.join(root, 'boot', `vmlinuz-${release}`),
    modulesDir,
    kbuildDir,
    origin: files.map((f) => path.basename(f)),
    arch,
  };
  writeAtomic(path.join(dir, 'kernel.json'), JSON.stringify(kernel, null, 2) + '\n');
  return kernel;
}

/** A Debian package's .deb from the host's or the arm64 index, downloaded once into the cache; its path. */
export async function debianPackage(pkg: string, arch: LabArch, progress: Progress = () => undefined): Promise<string> {
  const debs = mkdirp(arch === 'x86_64' ? path.join(labCache(), 'debs') : path.join(labCache(), arch, 'debs'));
  const find = (): string | undefined => fs.readdirSync(debs).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  const existing = find();
  if (existing) return path.join(debs, existing);
  progress(`downloading ${pkg}${arch === 'x86_64' ? '' : ` (${arch})`}`);
  await apt(arch, 'apt-get', ['download', '-q', pkg], { cwd: debs });
  const got = find();
  if (!got) throw new Error(`apt-get download ${pkg} left no .deb in ${debs}`);
  return path.join(debs, got);
}

/** Debian's header packages link into /usr/lib/linux-kbuild-*; point those links into our unpacked copy. */
function rebaseAbsoluteSymlinks(dir: string, root: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      const target = fs.readlinkSync(p);
      if (path.isAbsolute(target) && !target.startsWith(root)) {
        fs.unlinkSync(p);
        fs.symlinkSync(path.join(root, target), p);
      }
    } else if (entry.isDirectory()) {
      rebaseAbsoluteSymlinks(p, root);
    }
  }
}

async function buildIommufdKernel(progress: Progress): Promise<PreparedKernel> {
  const tarball = '/usr/src/linux-source-6.12.tar.xz';
  if (!fs.existsSync(tarball)) throw new Error(`${tarball} is missing: install linux-source-6.12 (src/scripts/setup.sh)`);
  const version = (await run('dpkg-query', ['-W', '-f=${Version}', 'linux-source-6.12'])).trim();
  const fragment = fs.readFileSync(path.join(labAssets(), 'iommufd-6.12.config'), 'utf8');
  const key = createHash('sha256').update(`${version}\n${fragment}`).digest('hex').slice(0, 12);
  const dir = path.join(labCache(), 'kernels', 'iommufd-6.12', key);
  const cached = readPrepared(dir);
  if (cached) return cached;

  const src = path.join(labCache(), 'src', `linux-source-6.12_${version}`);
  if (!fs.existsSync(path.join(src, '.unpacked'))) {
    progress(`iommufd-6.12: unpacking ${tarball} (${version})`);
    fs.rmSync(src, { recursive: true, force: true });
    mkdirp(src);
    await run('tar', ['-xf', tarball, '-C', src, '--strip-components=1']);
    fs.writeFileSync(path.join(src, '.unpacked'), version + '\n');
  }

  const build = path.join(dir, 'build');
  fs.rmSync(build, { recursive: true, force: true });
  mkdirp(build);
  // The whole build's output, for when the last lines in the error are not enough.
  const logFile = path.join(dir, 'build.log');
  const log = fs.createWriteStream(logFile);
  const make = (args: string[], onLine?: (l: string) => void): Promise<string> =>
    run('make', ['-C', src, `O=${build}`, ...args], {
      onLine: (l) => {
        log.write(l + '\n');
        onLine?.(l);
      },
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n(the whole log: ${logFile})`);
    });
  progress('iommufd-6.12: configuring (tinyconfig + src/lab/iommufd-6.12.config)');
  await make(['tinyconfig']);
  fs.appendFileSync(path.join(build, '.config'), '\n' + fragment);
  await make(['olddefconfig']);
  const config = fs.readFileSync(path.join(build, '.config'), 'utf8');
  const missing = fragment
    .split('\n')
    .filter((l) => /^CONFIG_\w+=/.test(l))
    .filter((l) => !config.split('\n').includes(l));
  if (missing.length) throw new Error(`kernel config did not take: ${missing.join(' ')} (a dependency is missing from iommufd-6.12.config)`);

  const started = Date.now();
  let objects = 0;
  let last = 0;
  await make([`-j${os.availableParallelism()}`, 'bzImage', 'modules'], (line) => {
    if (!/^\s+CC\s/.test(line)) return;
    objects++;
    if (Date.now() - last > 2000) {
      last = Date.now();
      progress(`iommufd-6.12: compiling, ${objects} objects, ${Math.round((Date.now() - started) / 1000)} s`);
    }
  });
  log.end();
  progress(`iommufd-6.12: built in ${Math.round((Date.now() - started) / 1000)} s`);

  const systemMap = fs.readFileSync(path.join(build, 'System.map'), 'utf8');
  const absent = SYMBOLS_IOMMUFD.filter((s) => !new RegExp(` ${s}$`, 'm').test(systemMap));
  if (absent.length) throw new Error(`iommufd-6.12 kernel lacks ${absent.join(', ')}`);
  const release = fs.readFileSync(path.join(build, 'include', 'config', 'kernel.release'), 'utf8').trim();
  const kernel: PreparedKernel = {
    name: 'iommufd-6.12',
    release,
    dir,
    bzImage: path.join(build, 'arch', 'x86', 'boot', 'bzImage'),
    modulesDir: null,
    kbuildDir: build,
    origin: [`linux-source-6.12 ${version}`, `config ${key}`],
  };
  writeAtomic(path.join(dir, 'kernel.json'), JSON.stringify(kernel, null, 2) + '\n');
  return kernel;
}
