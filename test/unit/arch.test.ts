/**
 * One package, two architectures: which BPF object and addon the runtime picks for
 * process.arch, and that each object reads the registers of its own arch in kprobes.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ARCHES, bpfObjectFile, crossAddonFile, hostArch, prebuiltAddonFile } from '../../src/loader/arch';
import { Btf } from '../../src/loader/btf';
import { addonCandidates, loadAddon } from '../../src/loader/native';
import { need, ROOT } from '../helpers';

test('the addon is looked for in the local build, then the clone\'s cross-build and the prebuilt one of this arch', () => {
  const root = '/pkg';
  assert.deepEqual(addonCandidates(root, 'arm64'), [
    '/pkg/build/Release/bpf_loader.node',
    '/pkg/build/linux-arm64/bpf_loader.node',
    '/pkg/prebuilds/linux-arm64-glibc/bpf_loader.node',
  ]);
  assert.deepEqual(addonCandidates(root, 'x64').slice(1), ['/pkg/build/linux-x64/bpf_loader.node', '/pkg/prebuilds/linux-x64-glibc/bpf_loader.node']);
  // Nothing prebuilt for other arches: only a build from source.
  assert.deepEqual(addonCandidates(root, 'ppc64'), ['/pkg/build/Release/bpf_loader.node']);
});

test('the BPF object is the one built for this arch', () => {
  assert.equal(bpfObjectFile('x64'), 'build/bpf/x64/iommutrace.bpf.o');
  assert.equal(bpfObjectFile('arm64'), 'build/bpf/arm64/iommutrace.bpf.o');
  assert.equal(bpfObjectFile(), bpfObjectFile(process.arch));
  assert.equal(hostArch('arm64'), 'arm64');
  assert.equal(hostArch('riscv64'), null);
  assert.equal(prebuiltAddonFile('arm64'), 'prebuilds/linux-arm64-glibc/bpf_loader.node');
  assert.equal(crossAddonFile('arm64'), 'build/linux-arm64/bpf_loader.node');
});

test('an addon of another arch is passed over with its reason, and the next candidate loads', (t) => {
  const other = ARCHES.find((a) => a !== process.arch);
  const foreign = other ? path.join(ROOT, other === 'arm64' ? crossAddonFile('arm64') : 'build/Release/bpf_loader.node') : '';
  const own = path.join(ROOT, 'build', 'Release', 'bpf_loader.node');
  if (!need(t, process.arch === 'x64' && fs.existsSync(foreign) && fs.existsSync(own), 'an x64 host with both addons built (npm run build)')) return;
  const got = loadAddon([foreign, own]);
  assert.equal(got.file, own);
  assert.equal(got.problems.length, 1);
  assert.equal(got.problems[0], 'build/linux-arm64/bpf_loader.node: built for arm64, and this Node is x64');
});

// bpf_tracing.h reads kprobe arguments through the arch's register struct: x86's pt_regs
// (di, si, ...), arm64's user_pt_regs (regs[0..7]). The object carries the one it used.
const REGISTERS: Record<string, { has: string; field: string; lacks: string }> = {
  x64: { has: 'pt_regs', field: 'di', lacks: 'user_pt_regs' },
  arm64: { has: 'user_pt_regs', field: 'regs', lacks: 'pt_regs' },
};
for (const arch of ARCHES) {
  test(`the ${arch} object reads kprobe arguments from ${REGISTERS[arch].has}`, (t) => {
    const file = path.join(ROOT, bpfObjectFile(arch));
    if (!need(t, fs.existsSync(file), `${bpfObjectFile(arch)} (npm run build:bpf; arm64 needs crossbuild-essential-arm64)`)) return;
    const btf = Btf.file(file);
    try {
      const regs = btf.struct(REGISTERS[arch].has);
      assert.ok(regs?.fields.some((f) => f.name === REGISTERS[arch].field), `${REGISTERS[arch].has}.${REGISTERS[arch].field}`);
      assert.equal(btf.struct(REGISTERS[arch].lacks)?.fields.length ?? 0, 0, `no ${REGISTERS[arch].lacks} fields`);
    } finally {
      btf.close();
    }
  });
}
