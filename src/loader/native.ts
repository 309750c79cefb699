import * as fs from 'node:fs';
import * as path from 'node:path';
import { crossAddonFile, elfArch, hostArch, prebuiltAddonFile } from './arch';
import type { Trampoline } from './object';

/** Shapes of the N-API addon's exports (src/loader/native/*.cc). */
export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
  fd: number;
}

export interface NativeMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** BPF_F_* map flags (BPF_F_NO_PREALLOC: keys allocated as they come). */
  flags: number;
  fd: number;
}

export interface NativeLink {
  readonly fd: number;
  readonly closed: boolean;
  close(): void;
}

export interface NativeObject {
  readonly state: 'opened' | 'loading' | 'loaded' | 'failed' | 'closed';
  programs(): NativeProgramInfo[];
  maps(): NativeMapInfo[];
  setAutoload(program: string, on: boolean): void;
  setAttachTarget(program: string, fn: string): void;
  initialValue(map: string): Buffer | null;
  setInitialValue(map: string, value: Buffer): void;
  setMaxEntries(map: string, entries: number): void;
  reuseMapFd(map: string, fd: number): void;
  load(): Promise<void>;
  attach(program: string, mode: string, target?: string): NativeLink;
  mapFd(map: string): number;
  programFd(program: string): number;
  close(): void;
}

export interface NativeRingConsumer {
  readonly closed: boolean;
  pause(): void;
  resume(): void;
  consume(): { buffer: Buffer; count: number };
  close(): void;
  ref(): void;
  unref(): void;
}

export interface ProbeResult {
  ok: boolean;
  stage: string;
  errno: number;
  message: string;
}

export interface NativeBtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  bits?: number;
  signed?: boolean;
  typeId?: number;
  nelems?: number;
  linkage?: number;
  members?: { name: string; typeId: number; bitOffset: number; bitfieldSize: number }[];
  values?: { name: string; value: number }[];
  params?: { name: string; typeId: number }[];
  vars?: { typeId: number; offset: number; size: number }[];
}

export interface NativeBtf {
  count(): number;
  find(name: string, kind: string): number;
  type(id: number): NativeBtfType | null;
  close(): void;
}

export interface NativeAddon {
  BpfObject: new (path: string, options?: { btfCustomPath?: string; tracefs?: string }) => NativeObject;
  RingConsumer: new (
    mapFd: number,
    onBatch: (bufferOrError: Buffer | Error, count?: number) => void,
    options?: { maxRecords?: number },
  ) => NativeRingConsumer;
  /** A base path, or an open vmlinux to share (split module BTF). */
  Btf: new (path: string, base?: string | NativeBtf) => NativeBtf;
  probeTrampoline(symbol: string, module: string, kind: Trampoline): ProbeResult;
  /** Frees the kernel BTF probeTrampoline keeps between questions (read again when asked). */
  releaseBtf(): void;
  probeKprobe(symbol: string): ProbeResult;
  probeMapType(type: number): boolean;
  probeProgType(type: number): boolean;
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapTake(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapLookupBatch(
    fd: number,
    keySize: number,
    valueSize: number,
    maxCount: number,
    token: Buffer | null,
  ): { keys: Buffer; values: Buffer; count: number; token: Buffer; done: boolean };
  numPossibleCpus: number;
  /** Bytes the C allocator has out (glibc's mallinfo2), undefined elsewhere. */
  mallocInUse(): number | undefined;
  libbpfVersion: string;
}

/** The package root: dist/src/loader -> root (a clone, or the installed package). */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

function glibc(): boolean {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return Boolean(header?.glibcVersionRuntime);
}

/**
 * Addon files to try, in order: a local build first (a clone, or the installed
 * package's fallback build from source), then, on linux-x64 and linux-arm64, the one
 * cross-built in a clone (what the arm64 lab guest loads) and the prebuilt one.
 */
export function addonCandidates(root = PACKAGE_ROOT, arch: string = process.arch): string[] {
  const out = [path.join(root, 'build', 'Release', 'bpf_loader.node')];
  const a = process.platform === 'linux' ? hostArch(arch) : null;
  if (a) out.push(path.join(root, crossAddonFile(a)), path.join(root, prebuiltAddonFile(a)));
  return out;
}

/** Loads the first candidate that exists and loads; otherwise why each one did not. */
export function loadAddon(candidates = addonCandidates()): { addon?: NativeAddon; file?: string; problems: string[] } {
  const problems: string[] = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    const built = elfArch(file);
    if (built && built !== process.arch) {
      problems.push(`${path.relative(PACKAGE_ROOT, file)}: built for ${built}, and this Node is ${process.arch}`);
      continue;
    }
    // Asked only here: a process report takes milliseconds, and a clone never gets this far.
    if (!file.endsWith(path.join('Release', 'bpf_loader.node')) && !glibc()) {
      problems.push(`${path.relative(PACKAGE_ROOT, file)}: built for glibc, and this Node runs on another C library`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { addon: require(file) as NativeAddon, file, problems };
    } catch (err) {
      problems.push(`${path.relative(PACKAGE_ROOT, file)}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { problems };
}

let addon: NativeAddon | undefined;

/** Loads the addon once; a missing or unloadable one is one clear error. */
export function native(): NativeAddon {
  if (addon) return addon;
  const got = loadAddon();
  if (got.addon) return (addon = got.addon);
  const why = got.problems.length ? got.problems.join('; ') : 'no build and no prebuilt addon for this platform';
  throw new Error(
    `bpf-loader-ts addon not usable (${why}): in a clone run npm run build; an installed package needs libbpf 1.x (libbpf1), or a build from source: node ${path.join(PACKAGE_ROOT, 'dist', 'src', 'scripts', 'install-addon.js')}`,
  );
}
