import * as fs from 'node:fs';

/** No kernel function is this large; a larger offset is not inside the symbol. */
const MAX_OFFSET = 0x100000n;

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** Module name for module symbols, undefined for the kernel image. */
  module?: string;
}

const NL = 10;
const TAB = 9;
const SPACE = 32;
const DOT = 46;

/** A growable Uint32Array. */
class U32 {
  a = new Uint32Array(1 << 14);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Uint32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Uint32Array {
    return this.a.slice(0, this.n);
  }
}

/** The hex number in bytes [from, to) of `b` (at most 8 digits); 0 when empty. */
function hex(b: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = b[i];
    v = v * 16 + (c <= 57 ? c - 48 : (c | 0x20) - 87);
  }
  return v >>> 0;
}

/** Whether bytes [from, to) of `b` spell `name`. */
function sameName(b: Buffer, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false;
  for (let i = from; i < to; i++) if (b[i] !== name.charCodeAt(i - from)) return false;
  return true;
}

/** FNV-1a over a string's first `len` characters. */
function hashOf(s: string, len = s.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Open addressing, linear probing: slot -> symbol + 1. Equal keys keep their insertion (file) order. */
function hashTable(hashes: Uint32Array, members: Iterable<number>, count: number): Int32Array {
  let size = 16;
  while (size < count * 2) size <<= 1;
  const t = new Int32Array(size);
  for (const i of members) {
    let s = hashes[i] & (size - 1);
    while (t[s] !== 0) s = (s + 1) & (size - 1);
    t[s] = i + 1;
  }
  return t;
}

/**
 * /proc/kallsyms, for symbol existence checks and stack symbolization (module
 * functions included). Addresses are zero without CAP_SYSLOG; `hasAddresses` says so.
 *
 * Kept as typed arrays and one string of names, not an object per symbol: 120,000
 * symbols as objects and maps were 24 MB of heap, and their parse 60 MB resident.
 */
export class Kallsyms {
  /** Every text symbol's name, one after another, in file order. */
  private readonly names: string;
  /** Symbol i's name is names[nameAt[i], nameAt[i + 1]). */
  private readonly nameAt: Uint32Array;
  /** Index of symbol i's module in `moduleNames` + 1; 0: the kernel image. */
  private readonly moduleOf: Uint16Array;
  private readonly moduleNames: string[] = [];
  /** Addresses sorted, and which symbol each is. */
  private readonly addrs: BigUint64Array;
  private readonly byAddress: Uint32Array;
  private readonly nameHash: Uint32Array;
  private readonly byName: Int32Array;
  /** Names with a compiler suffix by their base name (`foo` -> `foo.isra.0`). */
  private readonly baseHash: Uint32Array;
  private readonly byBase: Int32Array;
  readonly hasAddresses: boolean;
  /** Module name -> [start, end) of its memory, from /proc/modules, when known. */
  private readonly moduleRanges = new Map<string, [bigint, bigint]>();
  /** "module:name" -> address of a module's data symbol (parameters the probes read). */
  private readonly moduleData = new Map<string, bigint>();

  /**
   * `modules` is /proc/modules: an address past its module's end is in no function of it.
   * `only`: keep the symbols of these modules alone (a module loaded later, planned
   * without the whole kernel's table).
   */
  constructor(text: string | Buffer | ((into: Buffer) => number), modules = '', only?: ReadonlySet<string>) {
    for (const line of modules.split('\n')) {
      // "vfio_pci 16384 0 - Live 0xffffffffc0a3c000"
      const f = line.split(' ');
      if (f.length >= 6 && f[5].startsWith('0x')) {
        const base = BigInt(f[5]);
        if (base !== 0n) this.moduleRanges.set(f[0], [base, base + BigInt(f[1])]);
      }
    }
    // Read a piece at a time: the whole file as one buffer (and Node's chunks of it
    // before that) was 10 MB of garbage that glibc then kept resident.
    const read = typeof text === 'function' ? text : undefined;
    let buf: Buffer = read ? Buffer.allocUnsafe(256 << 10) : typeof text === 'string' ? Buffer.from(text, 'latin1') : (text as Buffer);
    let have = read ? 0 : buf.length;
    let blob = Buffer.allocUnsafe(1 << 20);
    let blobLen = 0;
    const nameAt = new U32();
    const lo = new U32();
    const hi = new U32();
    const mods = new U32();
    const moduleIndex = new Map<string, number>();
    let lastModule = '';
    let lastModuleIndex = 0;
    for (let eof = !read; ; ) {
      if (read) {
        if (have === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
        const got = read(buf.subarray(have));
        if (got === 0) eof = true;
        have += got;
      }
      const view = buf.subarray(0, have);
      let pos = 0;
      while (pos < have) {
        // "ffffffffc0a01000 t vfio_pin_pages_remote\t[vfio_iommu_type1]"
        let nl = view.indexOf(NL, pos);
        if (nl < 0) {
          if (!eof) break;
          nl = have;
        }
        const line = pos;
        pos = nl + 1;
        const sp1 = view.indexOf(SPACE, line);
        if (sp1 < 0 || sp1 + 2 >= nl || view[sp1 + 2] !== SPACE) continue;
        const type = view[sp1 + 1];
        const start = sp1 + 3;
        let tab = start;
        while (tab < nl && view[tab] !== TAB) tab++;
        if (tab === nl) tab = -1;
        const end = tab < 0 ? nl : tab;
        // "[module]" after the tab.
        let module = '';
        if (tab >= 0) {
          // Lines of one module come together: its name is made once.
          module = sameName(view, tab + 2, nl - 1, lastModule) ? lastModule : view.toString('latin1', tab + 2, nl - 1);
          if (only && !only.has(module)) continue;
        } else if (only) continue;
        const isText = type === 0x74 || type === 0x54 || type === 0x57 || type === 0x77; // t T W w
        // Text symbols for stacks and probes; of the data, only modules' (few), for their parameters.
        if (!isText) {
          if (tab >= 0 && (type === 0x64 || type === 0x44 || type === 0x62 || type === 0x42)) {
            this.moduleData.set(`${module}:${view.toString('latin1', start, end)}`, BigInt('0x' + view.toString('latin1', line, sp1)));
          }
          continue;
        }
        // 16 hex digits: two 32-bit halves, no string or BigInt per symbol.
        hi.push(hex(view, line, sp1 - 8));
        lo.push(hex(view, Math.max(line, sp1 - 8), sp1));
        if (module !== lastModule) {
          lastModule = module;
          lastModuleIndex = moduleIndex.get(module) ?? 0;
          if (module && !lastModuleIndex) {
            this.moduleNames.push(module);
            lastModuleIndex = this.moduleNames.length;
            moduleIndex.set(module, lastModuleIndex);
          }
        }
        mods.push(lastModuleIndex);
        nameAt.push(blobLen);
        if (blobLen + end - start > blob.length) blob = Buffer.concat([blob.subarray(0, blobLen)], Math.max(blob.length * 2, blobLen + end - start));
        blobLen += view.copy(blob, blobLen, start, end);
      }
      if (eof) break;
      buf.copy(buf, 0, pos, have);
      have -= pos;
    }
    nameAt.push(blobLen);
    const n = lo.n;
    this.names = blob.toString('latin1', 0, blobLen);
    this.nameAt = nameAt.done();
    this.moduleOf = Uint16Array.from(mods.done());
    const his = hi.done();
    const los = lo.done();
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => his[a] - his[b] || los[a] - los[b] || a - b);
    this.byAddress = order;
    this.addrs = new BigUint64Array(n);
    const halves = new Uint32Array(this.addrs.buffer);
    const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    for (let k = 0; k < n; k++) {
      halves[2 * k + (little ? 0 : 1)] = los[order[k]];
      halves[2 * k + (little ? 1 : 0)] = his[order[k]];
    }
    this.hasAddresses = n > 0 && this.addrs[n - 1] !== 0n;
    this.nameHash = new Uint32Array(n);
    this.baseHash = new Uint32Array(n);
    const dotted: number[] = [];
    for (let i = 0; i < n; i++) {
      const off = this.nameAt[i];
      const len = this.nameAt[i + 1] - off;
      let h = 0x811c9dc5;
      let base = 0;
      let dot = false;
      for (let c = 0; c < len; c++) {
        const ch = this.names.charCodeAt(off + c);
        // The first dot only, and not a leading one: `foo` of `foo.isra.0`.
        if (ch === DOT && !dot) {
          dot = true;
          if (c > 0) {
            base = h >>> 0;
            dotted.push(i);
          }
        }
        h = Math.imul(h ^ ch, 0x01000193);
      }
      this.nameHash[i] = h >>> 0;
      this.baseHash[i] = base;
    }
    const all = { *[Symbol.iterator]() { for (let i = 0; i < n; i++) yield i; } };
    this.byName = hashTable(this.nameHash, all, n);
    this.byBase = hashTable(this.baseHash, dotted, dotted.length);
  }

  static load(file = '/proc/kallsyms', modules = '/proc/modules', only?: ReadonlySet<string>): Kallsyms {
    let mods = '';
    try {
      mods = fs.readFileSync(modules, 'utf8');
    } catch {
      // Without it, only the offset bound applies.
    }
    const fd = fs.openSync(file, 'r');
    try {
      return new Kallsyms((into) => fs.readSync(fd, into, 0, into.length, null), mods, only);
    } finally {
      fs.closeSync(fd);
    }
  }

  get size(): number {
    return this.addrs.length;
  }

  private nameOf(i: number): string {
    return this.names.slice(this.nameAt[i], this.nameAt[i + 1]);
  }

  private moduleName(i: number): string | undefined {
    const m = this.moduleOf[i];
    return m ? this.moduleNames[m - 1] : undefined;
  }

  /** Symbols named `name` (or, with `base`, named `name.` + a suffix), in file order. */
  private *matching(name: string, base = false): Generator<number> {
    if (base && name.includes('.')) return;
    const table = base ? this.byBase : this.byName;
    const hashes = base ? this.baseHash : this.nameHash;
    const h = hashOf(name);
    const mask = table.length - 1;
    for (let s = h & mask; table[s] !== 0; s = (s + 1) & mask) {
      const i = table[s] - 1;
      if (hashes[i] !== h) continue;
      const off = this.nameAt[i];
      const len = this.nameAt[i + 1] - off;
      if (!this.names.startsWith(name, off)) continue;
      if (base ? len > name.length && this.names.charCodeAt(off + name.length) === DOT : len === name.length) yield i;
    }
  }

  has(name: string): boolean {
    return !this.matching(name).next().done;
  }

  lookup(name: string): KernelSymbol | undefined {
    const r = this.matching(name).next();
    if (r.done) return undefined;
    const k = this.byAddress.indexOf(r.value);
    return { name, address: this.addrs[k], module: this.moduleName(r.value) };
  }

  /** How many text symbols are named exactly `name` (0 when absent). */
  count(name: string): number {
    let c = 0;
    for (const _ of this.matching(name)) c++;
    return c;
  }

  /** Address of a module's data symbol (a parameter); undefined when absent or hidden (no CAP_SYSLOG). */
  moduleDataAddress(module: string, name: string): bigint | undefined {
    const a = this.moduleData.get(`${module}:${name}`);
    return a ? a : undefined;
  }

  /**
   * Names that are `name` or a compiler clone of it (`name.isra.0`, `name.constprop.0`),
   * which is how static helpers show up when not inlined away.
   */
  variants(name: string): string[] {
    const clones: string[] = [];
    for (const i of this.matching(name, true)) {
      const clone = this.nameOf(i);
      if (!clones.includes(clone)) clones.push(clone);
    }
    return [...(this.has(name) ? [name] : []), ...clones];
  }

  /**
   * The symbol holding `address` as "func+0x1c" or "func+0x1c [module]"; hex when
   * unknown. kallsyms has no sizes: an offset past MAX_OFFSET means the address
   * is in no listed function (BPF programs and trampolines usually), so hex too.
   */
  symbolize(address: bigint): string {
    const a = this.addrs;
    let lo = 0;
    let hi = a.length - 1;
    if (!this.hasAddresses || hi < 0 || address < a[0]) return '0x' + address.toString(16);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (a[mid] <= address) lo = mid;
      else hi = mid - 1;
    }
    const i = this.byAddress[lo];
    const module = this.moduleName(i);
    const range = module ? this.moduleRanges.get(module) : undefined;
    if (address - a[lo] > MAX_OFFSET || (range && address >= range[1])) return '0x' + address.toString(16);
    const off = `${this.nameOf(i)}+0x${(address - a[lo]).toString(16)}`;
    return module ? `${off} [${module}]` : off;
  }
}
