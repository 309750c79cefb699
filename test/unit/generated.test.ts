/**
 * The typed layer generated from the BPF object (src/generated/bpf.ts): current
 * with the object, and exhaustive where it must be.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ts from 'typescript';
import { generate } from '../../src/events/generate';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { EVENT_FIELDS, EVENT_KINDS, PROBES } from '../../src/generated/bpf';
import { ARCHES, bpfObjectFile } from '../../src/loader/arch';
import { BPF_OBJECT, need, ROOT } from '../helpers';

const GENERATED = path.join(ROOT, 'src', 'generated', 'bpf.ts');

test('src/generated/bpf.ts is what the object generates (else: npm run build:types)', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gen-')), 'bpf.ts');
  fs.writeFileSync(file, generate(path.join(ROOT, bpfObjectFile('x64')), bpfObjectFile('x64')));
  assert.equal(fs.readFileSync(GENERATED, 'utf8'), fs.readFileSync(file, 'utf8'), 'src/generated/bpf.ts is stale: run npm run build:types');
});

// One typed layer for every architecture: events, maps, programs and constants must not differ.
for (const arch of ARCHES.filter((a) => a !== 'x64')) {
  test(`the ${arch} object generates the same typed layer as the x64 one`, (t) => {
    const object = path.join(ROOT, bpfObjectFile(arch));
    if (!need(t, fs.existsSync(object), `${bpfObjectFile(arch)} is missing (npm run build:bpf needs crossbuild-essential-arm64: src/scripts/setup.sh)`)) return;
    assert.equal(generate(object, bpfObjectFile('x64')), fs.readFileSync(GENERATED, 'utf8'));
  });
}

test("the generated fields are the decoder's, kind by kind", () => {
  const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));
  assert.deepEqual(Object.keys(EVENT_FIELDS), Object.keys(EVENT_KINDS));
  for (const [kind, specs] of decoder.fields) {
    const carried = specs.filter((s) => s.name !== 'type').map((s) => s.name);
    assert.deepEqual(EVENT_FIELDS[kind as keyof typeof EVENT_FIELDS].map((f) => f.name), carried, kind);
  }
});

/** Type-checks `roots` with src/generated/bpf.ts replaced by `generated`: the diagnostics' texts. */
function typecheck(roots: string[], generated: string): string[] {
  const options: ts.CompilerOptions = { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, noEmit: true, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) =>
    path.resolve(name) === GENERATED ? ts.createSourceFile(name, generated, lang) : read(name, lang, ...rest);
  const program = ts.createProgram(roots.map((r) => path.join(ROOT, r)), options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('a probe added to enum it_probe fails tsc until the truth table places it', () => {
  const text = fs.readFileSync(GENERATED, 'utf8');
  assert.ok(Object.keys(PROBES).length > 30);
  const roots = ['src/aggregate/truth.ts'];
  assert.deepEqual(typecheck(roots, text), [], 'the table compiles against the object as it is');
  const added = text.replace("export const PROBES = {\n", "export const PROBES = {\n  'iommu.new_probe': 99,\n");
  assert.notEqual(added, text);
  const errors = typecheck(roots, added);
  assert.ok(errors.some((e) => /Property '"iommu.new_probe"' is missing/.test(e)), errors.join('\n'));
});

test('a probe removed from the object fails tsc where the code names it', () => {
  const text = fs.readFileSync(GENERATED, 'utf8');
  const removed = text.replace("'iommu.unmap': 11, ", '');
  assert.notEqual(removed, text);
  const errors = typecheck(['src/aggregate/truth.ts', 'src/aggregate/engine.ts', 'src/probes/catalogue.ts'], removed);
  assert.ok(errors.some((e) => e.includes("'iommu.unmap'")), errors.join('\n'));
});
