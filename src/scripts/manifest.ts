/**
 * Writes oclif.manifest.json at the package root (run by `npm run build:ts`).
 * With it oclif loads only the command being run; without it, it requires every
 * command to list them, which costs each run hundreds of milliseconds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Plugin } from '@oclif/core';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..', '..');
  const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
  await plugin.load();
  const file = path.join(root, 'oclif.manifest.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(plugin.manifest, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

main().catch((err: Error) => {
  console.error(`manifest: ${err.message}`);
  process.exit(1);
});
