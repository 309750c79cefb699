import * as fs from 'node:fs';

/** No kernel function is this large; a larger offset is not inside the symbol. */
const MAX_OFFSET = 0x100000n;

export interface KernelSymbol {
  name: string;
  address: bigint;
  /** Module name for module symbols, undefined for the kernel image. */
  module?: string;
}

/**
 * /proc/kallsyms, for symbol existence checks and stack symbolization (module
 * functions included). Addresses are zero without CAP_SYSLOG; `hasAddresses` says so.
 */
export class Kallsyms {
  private readonly addrs: BigUint64Array;
  private readonly syms: KernelSymbol[];
  private readonly byName = new Map<string, KernelSymbol>();
  /** Text symbols per name: static functions of different files may share one. */
  private readonly counts = new Map<string, number>();
  /** Base name -> names with compiler suffixes (`foo` -> `foo.isra.0`). */
  private readonly clones = new Map<string, string[]>();
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
  constructor(text: string, modules = '', only?: ReadonlySet<string>) {
    for (const line of modules.split('\n')) {
      // "vfio_pci 16384 0 - Live 0xffffffffc0a3c000"
      const f = line.split(' ');
      if (f.length >= 6 && f[5].startsWith('0x')) {
        const base = BigInt(f[5]);
        if (base !== 0n) this.moduleRanges.set(f[0], [base, base + BigInt(f[1])]);
      }
    }
    const all: KernelSymbol[] = [];
    for (const line of text.split('\n')) {
      // "ffffffffc0a01000 t vfio_pin_pages_remote\t[vfio_iommu_type1]"
      const sp1 = line.indexOf(' ');
      const sp2 = line.indexOf(' ', sp1 + 1);
      if (sp1 < 0 || sp2 < 0) continue;
      const type = line[sp1 + 1];
      const tab = line.indexOf('\t', sp2 + 1);
      if (only && (tab < 0 || !only.has(line.slice(tab + 2, line.length - 1)))) continue;
      // Text symbols for stacks and probes; of the data, only modules' (few), for their parameters.
      if (type !== 't' && type !== 'T' && type !== 'W' && type !== 'w') {
        if (tab > 0 && 'dDbB'.includes(type)) this.moduleData.set(`${line.slice(tab + 2, line.length - 1)}:${line.slice(sp2 + 1, tab)}`, BigInt('0x' + line.slice(0, sp1)));
        continue;
      }
      const name = tab < 0 ? line.slice(sp2 + 1) : line.slice(sp2 + 1, tab);
      const module = tab < 0 ? undefined : line.slice(tab + 2, line.length - 1);
      const sym = { name, address: BigInt('0x' + line.slice(0, sp1)), module };
      all.push(sym);
      this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
      if (!this.byName.has(name)) {
        this.byName.set(name, sym);
        const dot = name.indexOf('.');
        if (dot > 0) this.clones.set(name.slice(0, dot), [...(this.clones.get(name.slice(0, dot)) ?? []), name]);
      }
    }
    all.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    this.syms = all;
    this.addrs = BigUint64Array.from(all.map((s) => s.address));
    this.hasAddresses = all.length > 0 && all[all.length - 1].address !== 0n;
  }

  static load(file = '/proc/kallsyms', modules = '/proc/modules', only?: ReadonlySet<string>): Kallsyms {
    let mods = '';
    try {
      mods = fs.readFileSync(modules, 'utf8');
    } catch {
      // Without it, only the offset bound applies.
    }
    return new Kallsyms(fs.readFileSync(file, 'utf8'), mods, only);
  }

  get size(): number {
    return this.syms.length;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  lookup(name: string): KernelSymbol | undefined {
    return this.byName.get(name);
  }

  /** How many text symbols are named exactly `name` (0 when absent). */
  count(name: string): number {
    return this.counts.get(name) ?? 0;
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
    return [...(this.byName.has(name) ? [name] : []), ...(this.clones.get(name) ?? [])];
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
    const s = this.syms[lo];
    const range = s.module ? this.moduleRanges.get(s.module) : undefined;
    if (address - s.address > MAX_OFFSET || (range && address >= range[1])) return '0x' + address.toString(16);
    const off = `${s.name}+0x${(address - s.address).toString(16)}`;
    return s.module ? `${off} [${s.module}]` : off;
  }
}
