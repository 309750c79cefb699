/**
 * `npm run build:types`: writes src/generated/bpf.ts from the BPF object (run
 * after build:bpf and build:addon, before build:ts). Compiled alone first by
 * tsconfig.types.json: nothing it imports may import the generated file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generate } from '../events/generate';
import { bpfObjectFile } from '../loader/arch';

const root = path.resolve(__dirname, '..', '..', '..');
// Event layouts are the same in every arch's object (a unit test compares them): the x64 one is the source.
const object = bpfObjectFile('x64');
const file = path.join(root, 'src', 'generated', 'bpf.ts');
try {
  const text = generate(path.join(root, object), object);
  // Written only when it changed: tsc's incremental view and git stay quiet otherwise.
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
    console.log(`gen-types: wrote ${path.relative(root, file)}`);
  }
} catch (err) {
  console.error(`gen-types: ${(err as Error).message}`);
  process.exit(1);
}
