import * as path from 'node:path';

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
  Btf: new (path: string, basePath?: string) => NativeBtf;
  probeTrampoline(symbol: string, module: string, kind: 'fentry' | 'fexit'): ProbeResult;
  probeKprobe(symbol: string): ProbeResult;
  probeMapType(type: number): boolean;
  probeProgType(type: number): boolean;
  mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
  mapLookupBatch(
    fd: number,
    keySize: number,
    valueSize: number,
    maxCount: number,
    token: Buffer | null,
  ): { keys: Buffer; values: Buffer; count: number; token: Buffer; done: boolean };
  numPossibleCpus: number;
  libbpfVersion: string;
}

/** The package root: dist/src/loader -> root. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

let addon: NativeAddon | undefined;

/** Loads the addon once; a missing build is one clear error. */
export function native(): NativeAddon {
  if (addon) return addon;
  const file = path.join(PACKAGE_ROOT, 'build', 'Release', 'bpf_loader.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(file) as NativeAddon;
  } catch (err) {
    throw new Error(`bpf-loader-ts addon not built (${file}): run npm run build (${(err as Error).message.split('\n')[0]})`);
  }
  return addon;
}
