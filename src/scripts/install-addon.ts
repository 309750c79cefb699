import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addonCandidates, loadAddon, PACKAGE_ROOT } from '../loader/native';

/**
 * The package's install step. The prebuilt addon is used when it loads here; only
 * otherwise is it built from source (a C++ compiler, make, python3 and libbpf-dev 1.x
 * needed). package.json runs this only where prebuilds/ exists, i.e. in a packed
 * package: a clone builds its addon with `npm run build`. Also runnable by hand.
 */

/** node-gyp: the one npm hands its scripts, a local one, or the one bundled with npm. */
function nodeGyp(): string | undefined {
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const local = (() => {
    try {
      return require.resolve('node-gyp/bin/node-gyp.js', { paths: [PACKAGE_ROOT] });
    } catch {
      return undefined;
    }
  })();
  return [process.env.npm_config_node_gyp, local, bundled].find((f) => f && fs.existsSync(f));
}

function main(): number {
  const first = loadAddon();
  if (first.addon) {
    const prebuilt = first.file !== addonCandidates()[0];
    console.log(`iommutrace: ${prebuilt ? 'prebuilt' : 'locally built'} addon loads (libbpf ${first.addon.libbpfVersion})`);
    return 0;
  }
  const why = first.problems.join('; ') || 'no prebuilt addon for this platform';
  console.error(`iommutrace: ${why}; building the addon from source`);
  const gyp = nodeGyp();
  if (!gyp) {
    console.error('iommutrace: node-gyp not found: install libbpf1 (libbpf 1.x) for the prebuilt addon, or build tools and node-gyp');
    return 1;
  }
  // configure + build, not rebuild: a rebuild would delete build/ and the BPF object in it.
  const r = spawnSync(process.execPath, [gyp, 'configure', 'build'], { cwd: PACKAGE_ROOT, stdio: 'inherit' });
  const after = r.status === 0 ? loadAddon() : undefined;
  if (after?.addon) return 0;
  console.error(
    `iommutrace: the addon could not be built (${after?.problems.join('; ') || `node-gyp exit ${r.status}`}): ` +
      'install libbpf1 (libbpf 1.x) so the prebuilt one loads, or a C++ compiler, make, python3, pkg-config, libbpf-dev 1.x, libelf-dev and zlib1g-dev',
  );
  return 1;
}

process.exitCode = main();
