import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Root of everything the lab downloads and builds; IOMMUTRACE_LAB_CACHE overrides it. */
export function labCache(): string {
  return process.env.IOMMUTRACE_LAB_CACHE || path.join(os.homedir(), '.cache', 'iommutrace', 'lab');
}

/**
 * The lab's non-TypeScript sources (C workloads, the leak module, the kernel config
 * fragment, the initramfs init). tsc does not copy them, so from dist/src/lab we
 * look back into src/lab.
 */
export function labAssets(): string {
  const candidates = [__dirname, path.resolve(__dirname, '..', '..', '..', 'src', 'lab')];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'iommufd-6.12.config')));
  if (!found) throw new Error(`lab assets (src/lab) not found next to ${__dirname}`);
  return found;
}

export function mkdirp(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes a file atomically, so an interrupted run never leaves a half-written marker. */
export function writeAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Runs fn while holding an exclusive lock file in the cache, so parallel runs
 * (e.g. test files) prepare each artifact once instead of racing in one directory.
 * A lock whose owner process is gone is taken over.
 */
export async function withCacheLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(mkdirp(path.join(labCache(), 'locks')), `${name}.lock`);
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8') || 0);
      if (owner && !processAlive(owner)) {
        fs.rmSync(file, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
