import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { PROBES, PROGRAMS } from '../../src/generated/bpf';
import { CATALOGUE } from '../../src/probes/catalogue';
import { AttachMode } from '../../src/probes/types';
import { BPF_OBJECT } from '../helpers';

/*
 * The catalogue checked against the built object, read here with a few lines of
 * ELF and BTF parsing so this test needs neither the addon nor a kernel.
 */

interface Elf {
  /** Program name (function symbol) -> section name. */
  programs: Map<string, string>;
  sections: Map<string, Buffer>;
}

function readElf(file: string): Elf {
  const b = fs.readFileSync(file);
  assert.equal(b.readUInt32BE(0), 0x7f454c46, 'an ELF file');
  assert.equal(b[4], 2, 'ELF64');
  assert.equal(b[5], 1, 'little endian');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const sh = [...Array(shnum).keys()].map((i) => {
    const o = shoff + i * shentsize;
    return {
      name: b.readUInt32LE(o),
      type: b.readUInt32LE(o + 4),
      offset: Number(b.readBigUInt64LE(o + 0x18)),
      size: Number(b.readBigUInt64LE(o + 0x20)),
      link: b.readUInt32LE(o + 0x28),
    };
  });
  const str = (sec: number, off: number) => {
    const start = sh[sec].offset + off;
    return b.toString('latin1', start, b.indexOf(0, start));
  };
  const sections = new Map<string, Buffer>();
  sh.forEach((s) => sections.set(str(shstrndx, s.name), b.subarray(s.offset, s.offset + s.size)));
  const programs = new Map<string, string>();
  const symtab = sh.findIndex((s) => s.type === 2 /* SHT_SYMTAB */);
  assert.ok(symtab > 0, 'a symbol table');
  for (let o = sh[symtab].offset; o < sh[symtab].offset + sh[symtab].size; o += 24) {
    const info = b[o + 4];
    const shndx = b.readUInt16LE(o + 6);
    const global = info >> 4 === 1;
    if ((info & 0xf) !== 2 /* STT_FUNC */ || !global || shndx === 0 || shndx >= shnum) continue;
    const section = str(shstrndx, sh[shndx].name);
    if (section === '.text') continue; // subprograms, not entry points
    programs.set(str(sh[symtab].link, b.readUInt32LE(o)), section);
  }
  return { programs, sections };
}

/** Enumerator name -> value of a named enum in a .BTF section. */
function btfEnum(btf: Buffer, enumName: string): Map<string, number> {
  assert.equal(btf.readUInt16LE(0), 0xeb9f, 'BTF magic');
  const hdrLen = btf.readUInt32LE(4);
  const typeOff = hdrLen + btf.readUInt32LE(8);
  const typeLen = btf.readUInt32LE(12);
  const strOff = hdrLen + btf.readUInt32LE(16);
  const name = (off: number) => btf.toString('latin1', strOff + off, btf.indexOf(0, strOff + off));
  // Bytes that follow struct btf_type, per kind (kind * vlen for the ones with members).
  const extra: Record<number, [number, number]> = {
    1: [4, 0], 3: [12, 0], 4: [0, 12], 5: [0, 12], 6: [0, 8], 13: [0, 8],
    14: [4, 0], 15: [0, 12], 17: [4, 0], 19: [0, 12],
  };
  for (let o = typeOff; o < typeOff + typeLen; ) {
    const info = btf.readUInt32LE(o + 4);
    const kind = (info >> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kind === 6 && name(btf.readUInt32LE(o)) === enumName) {
      const out = new Map<string, number>();
      for (let i = 0; i < vlen; i++) out.set(name(btf.readUInt32LE(o + 12 + i * 8)), btf.readInt32LE(o + 16 + i * 8));
      return out;
    }
    const [fixed, per] = extra[kind] ?? [0, 0];
    o += 12 + fixed + per * vlen;
  }
  throw new Error(`enum ${enumName} not in BTF`);
}

const elf = readElf(BPF_OBJECT);
const probeEnum = btfEnum(elf.sections.get('.BTF')!, 'it_probe');
const enumProbeNames = new Set(
  [...probeEnum.keys()]
    .filter((n) => n !== 'IT_PROBE_NONE' && n !== 'IT_PROBE_MAX')
    .map((n) => {
      const rest = n.replace(/^IT_PROBE_/, '').toLowerCase();
      return rest.replace('_', '.');
    }),
);

/** What a program's section says about how it attaches. */
function sectionMode(section: string): AttachMode | undefined {
  if (['fentry', 'fexit', 'kprobe', 'kretprobe'].includes(section)) return section as AttachMode;
  if (section.startsWith('tp_btf/')) return 'tp_btf';
  if (section.startsWith('raw_tp/')) return 'raw_tp';
  if (section.startsWith('tracepoint/')) return 'tracepoint';
  return undefined;
}

test('the object has programs and the enum it_probe', () => {
  assert.ok(elf.programs.size > 50, `${elf.programs.size} programs`);
  assert.ok(probeEnum.get('IT_PROBE_IOMMU_MAP') === 10);
});

test('enum it_probe values are unique (user space maps them back to names)', () => {
  const byValue = new Map<number, string>();
  for (const [name, value] of probeEnum) {
    assert.ok(!byValue.has(value), `${name} and ${byValue.get(value)} share the value ${value}`);
    byValue.set(value, name);
  }
});

test('every probe name is a value of enum it_probe, and names are unique', () => {
  const seen = new Set<string>();
  for (const p of CATALOGUE) {
    assert.ok(enumProbeNames.has(p.name), `${p.name} has no IT_PROBE_ value`);
    assert.ok(!seen.has(p.name), `${p.name} listed twice`);
    seen.add(p.name);
  }
  for (const n of enumProbeNames) assert.ok(seen.has(n), `enum probe ${n} has no catalogue entry`);
});

test('every program named exists in the object, in a section of its attach mode', () => {
  for (const p of CATALOGUE) {
    assert.ok(p.candidates.length > 0, `${p.name} has candidates`);
    for (const c of p.candidates) {
      assert.ok(c.programs.length > 0, `${p.name} ${c.target} has programs`);
      assert.ok(
        c.programs.some((g) => g.attach === c.mode),
        `${p.name} ${c.target}: the reported mode ${c.mode} is one of its programs'`,
      );
      for (const g of c.programs) {
        const section = elf.programs.get(g.program);
        assert.ok(section !== undefined, `${g.program} (${p.name}) is not in ${BPF_OBJECT}`);
        assert.equal(sectionMode(section), g.attach, `${g.program} sits in section ${section}`);
        if (g.attach === 'tracepoint') assert.equal(section, `tracepoint/${c.target.replace(':', '/')}`);
        if (g.attach === 'tp_btf' || g.attach === 'raw_tp') assert.equal(section, `${g.attach}/${c.target}`);
      }
    }
  }
});

test('every program of the object belongs to exactly one probe', () => {
  const owner = new Map<string, string>();
  for (const p of CATALOGUE) {
    for (const c of p.candidates) {
      for (const g of c.programs) {
        const o = owner.get(g.program);
        assert.ok(o === undefined || o === p.name, `${g.program} is used by ${o} and ${p.name}`);
        owner.set(g.program, p.name);
        assert.ok(g.program.startsWith(p.name.replace('.', '_') + '_') || p.optIn, `${g.program} is named for ${p.name}`);
      }
    }
  }
  for (const prog of elf.programs.keys()) assert.ok(owner.has(prog), `program ${prog} is in no probe`);
});

test('candidates are ordered: trampolines, then kprobes, then tracepoints', () => {
  const rank: Record<AttachMode, number> = { fentry: 0, fexit: 0, kprobe: 1, kretprobe: 1, tp_btf: 2, raw_tp: 3, tracepoint: 4 };
  for (const p of CATALOGUE) {
    const modules = new Set(p.candidates.map((c) => c.module ?? ''));
    for (const m of modules) {
      const ranks = p.candidates.filter((c) => (c.module ?? '') === m).map((c) => rank[c.mode]);
      assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), `${p.name}${m ? ` (${m})` : ''}`);
    }
  }
});

test('kernel facts the candidates encode', () => {
  const get = (n: string) => CATALOGUE.find((p) => p.name === n)!;
  // GUP-fast was renamed in 6.10.
  assert.deepEqual(
    [...new Set(get('gup.fast').candidates.map((c) => c.target))],
    ['gup_fast_fallback', 'internal_get_user_pages_fast'],
  );
  // vfio_pin_pages_remote is in vfio_iommu_type1.ko on distribution kernels.
  assert.ok(get('vfio.pin').candidates.some((c) => c.module === 'vfio_iommu_type1'));
  // iova_bitmap: built in from 6.7, in vfio.ko before.
  assert.ok(get('dirty.walk').candidates.some((c) => c.module === 'vfio'));
  assert.ok(get('dirty.walk').candidates.some((c) => c.module === undefined));
  // The tracepoint fallback cannot time the call or name the domain.
  const tp = get('iommu.map').candidates.find((c) => c.mode === 'tracepoint')!;
  assert.equal(tp.target, 'iommu:map');
  assert.ok(tp.lacks?.includes('latency') && tp.lacks.includes('domain'));
  // pin_user_pages_remote has a kprobe pair for kernels whose trampolines refuse 7 arguments.
  assert.ok(get('gup.pin_remote').candidates.some((c) => c.mode === 'kretprobe'));
  const self = get('selftest.getppid');
  assert.equal(self.optIn, true);
  assert.deepEqual(self.candidates[0].programs, [{ program: 'selftest_getppid', attach: 'tracepoint' }]);
});

test("the generated layer's probes and programs are the object's (read here without the addon)", () => {
  assert.deepEqual(new Set(Object.keys(PROBES)), enumProbeNames);
  const generated = Object.entries(PROGRAMS).flatMap(([mode, names]) => names.map((n): [string, string] => [n, mode]));
  assert.deepEqual(new Map(generated), new Map([...elf.programs].map(([name, section]) => [name, sectionMode(section)])));
  assert.deepEqual(new Set(CATALOGUE.map((p) => p.name)), new Set(Object.keys(PROBES)));
});
