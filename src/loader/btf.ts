import * as fs from 'node:fs';
import { native, NativeBtf, NativeBtfType } from './native';

/** A scalar or array field, resolved through typedefs and qualifiers. */
export interface FieldLayout {
  name: string;
  /** Byte offset from the start of the outermost struct. */
  offset: number;
  size: number;
  /**
   * 'uint'/'int' (size 1, 2, 4 or 8), 'char' (a char array: a C string), 'array' of
   * elements, 'struct' (nested, flattened into `fields` with dotted names), 'ptr', 'enum'.
   */
  kind: 'uint' | 'int' | 'char' | 'array' | 'ptr' | 'enum' | 'struct' | 'other';
  /** For arrays: element layout and count. */
  element?: { kind: FieldLayout['kind']; size: number; typedef?: string };
  count?: number;
  /** The typedef the field was declared with (e.g. it_addr_t), when it was. */
  typedef?: string;
}

export interface StructLayout {
  name: string;
  size: number;
  /** Top-level members in order; nested structs are also expanded as `outer.inner` entries. */
  fields: FieldLayout[];
}

export interface FuncProto {
  name: string;
  params: { name: string; type: string }[];
  returns: string;
}

/** BTF of the running kernel, a module (split on vmlinux), or a BPF object file. */
export class Btf {
  private readonly raw: NativeBtf;
  private readonly cache = new Map<number, NativeBtfType>();

  private constructor(raw: NativeBtf) {
    this.raw = raw;
  }

  static readonly VMLINUX = '/sys/kernel/btf/vmlinux';

  static vmlinux(path = Btf.VMLINUX): Btf {
    return new Btf(new (native().Btf)(path));
  }

  /**
   * A module's BTF from /sys/kernel/btf/NAME (the module must be loaded), split on
   * `base`: an open vmlinux is shared (each path parses the kernel's 6 MB again).
   */
  static module(name: string, base: string | Btf = Btf.VMLINUX): Btf {
    return new Btf(new (native().Btf)(`/sys/kernel/btf/${name}`, typeof base === 'string' ? base : base.raw));
  }

  /** The .BTF section of an ELF object such as build/bpf/iommutrace.bpf.o. */
  static file(path: string): Btf {
    return new Btf(new (native().Btf)(path));
  }

  static available(path = Btf.VMLINUX): boolean {
    return fs.existsSync(path);
  }

  close(): void {
    this.raw.close();
  }

  type(id: number): NativeBtfType {
    let t = this.cache.get(id);
    if (!t) {
      const raw = this.raw.type(id);
      if (!raw) throw new Error(`BTF type ${id} does not exist`);
      t = raw;
      this.cache.set(id, t);
    }
    return t;
  }

  find(name: string, kind: string): NativeBtfType | undefined {
    const id = this.raw.find(name, kind);
    return id > 0 ? this.type(id) : undefined;
  }

  /** The first typedef name on the way from `id` to its underlying type. */
  typedefName(id: number): string | undefined {
    let t = this.type(id);
    while (['const', 'volatile', 'restrict', 'type_tag', 'typedef'].includes(t.kind)) {
      if (t.kind === 'typedef') return t.name;
      t = this.type(t.typeId!);
    }
    return undefined;
  }

  /** Skips typedefs, const, volatile, restrict and type tags. */
  resolve(id: number): NativeBtfType {
    let t = this.type(id);
    while (['typedef', 'const', 'volatile', 'restrict', 'type_tag'].includes(t.kind)) t = this.type(t.typeId!);
    return t;
  }

  sizeOf(id: number): number {
    const t = this.resolve(id);
    if (t.kind === 'ptr') return 8;
    if (t.kind === 'array') return t.nelems! * this.sizeOf(t.typeId!);
    return t.size ?? 0;
  }

  /** A readable C-like name for a type id (for prototypes and doctor). */
  typeName(id: number): string {
    if (id === 0) return 'void';
    const t = this.type(id);
    switch (t.kind) {
      case 'ptr':
        return `${this.typeName(t.typeId!)} *`;
      case 'const':
      case 'volatile':
        return `${t.kind} ${this.typeName(t.typeId!)}`;
      case 'struct':
      case 'union':
      case 'enum':
        return `${t.kind} ${t.name || '(anon)'}`;
      case 'array':
        return `${this.typeName(t.typeId!)}[${t.nelems}]`;
      case 'func_proto':
        return 'fn';
      default:
        return t.name || t.kind;
    }
  }

  /** Layout of a struct by name, with nested structs flattened as dotted names. */
  struct(name: string): StructLayout | undefined {
    const t = this.find(name, 'struct');
    if (!t) return undefined;
    const fields: FieldLayout[] = [];
    this.collect(t, 0, '', fields);
    return { name, size: t.size!, fields };
  }

  private collect(t: NativeBtfType, base: number, prefix: string, out: FieldLayout[]): void {
    for (const m of t.members ?? []) {
      const offset = base + m.bitOffset / 8;
      const name = prefix + m.name;
      const rt = this.resolve(m.typeId);
      const field = this.field(name, offset, rt);
      const typedef = this.typedefName(m.typeId);
      if (typedef) field.typedef = typedef;
      out.push(field);
      if (rt.kind === 'struct' || rt.kind === 'union') this.collect(rt, offset, `${name}.`, out);
    }
  }

  private field(name: string, offset: number, t: NativeBtfType): FieldLayout {
    switch (t.kind) {
      case 'int':
        if (t.name === 'char' && t.size === 1) return { name, offset, size: 1, kind: 'int' };
        return { name, offset, size: t.size!, kind: t.signed ? 'int' : 'uint' };
      case 'enum':
        return { name, offset, size: t.size!, kind: 'enum' };
      case 'ptr':
        return { name, offset, size: 8, kind: 'ptr' };
      case 'struct':
      case 'union':
        return { name, offset, size: t.size!, kind: 'struct' };
      case 'array': {
        const et = this.resolve(t.typeId!);
        const esize = this.sizeOf(t.typeId!);
        if (et.kind === 'int' && esize === 1 && et.name === 'char')
          return { name, offset, size: t.nelems!, kind: 'char', count: t.nelems };
        const element = { kind: this.field('', 0, et).kind, size: esize, typedef: this.typedefName(t.typeId!) };
        return { name, offset, size: esize * t.nelems!, kind: 'array', element, count: t.nelems };
      }
      default:
        return { name, offset, size: t.size ?? 0, kind: 'other' };
    }
  }

  /** Enum values by name (enum it_probe -> { IT_PROBE_IOMMU_MAP: 10, ... }). */
  enumValues(name: string): Map<string, number> | undefined {
    const t = this.find(name, 'enum');
    if (!t) return undefined;
    return new Map(t.values!.map((v) => [v.name, v.value]));
  }

  /** A function's prototype, or undefined when the kernel does not have it in BTF. */
  func(name: string): FuncProto | undefined {
    const f = this.find(name, 'func');
    if (!f) return undefined;
    const proto = this.type(f.typeId!);
    return {
      name,
      params: (proto.params ?? []).map((p) => ({ name: p.name, type: this.typeName(p.typeId) })),
      returns: this.typeName(proto.typeId!),
    };
  }

  /** Variables of a data section (.rodata, .bss): name -> { offset, size }. */
  datasec(name: string): Map<string, { offset: number; size: number }> | undefined {
    const t = this.find(name, 'datasec');
    if (!t) return undefined;
    return new Map(t.vars!.map((v) => [this.type(v.typeId).name, { offset: v.offset, size: v.size }]));
  }
}
