import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabArch } from './arch';
import type { PreparedKernel } from './kernels';
import { labAssets, labCache, mkdirp, withCacheLock } from './paths';
import { run } from './proc';

/** sha256 over the files of a directory (names and contents), for cache keys. */
function hashDir(dir: string): string {
  const h = createHash('sha256');
  for (const f of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, f);
    if (!fs.statSync(p).isFile()) continue;
    h.update(f).update('\0').update(fs.readFileSync(p)).update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * Builds the C workloads (once per source version and arch); returns the directory
 * holding them. arm64's are cross-compiled static: the guest's own root has only glibc's
 * shared libraries on a path that is not the default one.
 */
export async function prepareWorkloadBinaries(arch: LabArch = 'x86_64'): Promise<string> {
  const src = path.join(labAssets(), 'workloads');
  const dir = arch === 'x86_64' ? path.join(labCache(), 'workloads', hashDir(src)) : path.join(labCache(), arch, 'workloads', hashDir(src));
  const built = path.join(dir, '.built');
  if (fs.existsSync(built)) return dir;
  return withCacheLock(arch === 'x86_64' ? 'workloads' : `workloads-${arch}`, async () => {
    if (fs.existsSync(built)) return dir;
    fs.rmSync(dir, { recursive: true, force: true });
    const env = arch === 'x86_64' ? process.env : { ...process.env, CC: 'aarch64-linux-gnu-gcc', WORKLOAD_LDFLAGS: '-static' };
    await run('bash', [path.join(src, 'build.sh'), dir], { env });
    fs.writeFileSync(built, '');
    return dir;
  });
}

/** Builds the leak module against a kernel's headers or build tree; returns the .ko path. */
export async function prepareLeakModule(kernel: PreparedKernel): Promise<string> {
  const src = path.join(labAssets(), 'leakmod');
  const dir = path.join(kernel.dir, `leakmod-${hashDir(src)}`);
  const ko = path.join(dir, 'iommutrace_leak.ko');
  if (fs.existsSync(ko)) return ko;
  return withCacheLock(`leakmod-${kernel.name}`, async () => {
    if (fs.existsSync(ko)) return ko;
    const work = mkdirp(`${dir}.tmp-${process.pid}`);
    try {
      for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(work, f));
      // arm64: Debian's headers for arm64 with the host's kbuild programs, and the cross compiler.
      const cross = kernel.arch === 'arm64' ? ['ARCH=arm64', 'CROSS_COMPILE=aarch64-linux-gnu-'] : [];
      await run('make', ['-C', kernel.kbuildDir, `M=${work}`, ...cross, 'modules']);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(work, dir);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    return ko;
  });
}
