/**
 * V8's code cache for the CLI's own modules and its dependencies: compiling the
 * couple of hundred files oclif, protobufjs and ours load is a third of the time
 * before the probes attach. Node 20 has no built-in compile cache (22 has), so
 * each file's compiled code is kept, keyed by its contents, in a directory only
 * this user can write (systemd's CacheDirectory when the agent runs as a
 * service, else ~/.cache/iommutrace). A missing, stale or rejected entry only
 * means compiling as usual; it is written when the process exits.
 *
 * Imported for its effect, first thing in each bin script, so it is in place
 * before the rest loads.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';

/** What Node's CommonJS loader calls to compile and run one file (not in @types/node). */
interface CompilingModule {
  _compile(content: string, filename: string): unknown;
  require(id: string): unknown;
  exports: unknown;
}
interface ModuleInternals {
  prototype: CompilingModule;
  wrap(source: string): string;
  _resolveFilename(request: string, parent: CompilingModule, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: CompilingModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = require.main;

/** The cache directory, made if needed; undefined when it is not this user's alone. */
function cacheDir(): string | undefined {
  const base = process.env.CACHE_DIRECTORY?.split(':')[0] ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'iommutrace');
  const dir = path.join(base, `code-${process.version}-${process.arch}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.statSync(dir);
    // Cached code runs as this user: nobody else may be able to plant it.
    return st.uid === process.getuid?.() && (st.mode & 0o022) === 0 ? dir : undefined;
  } catch {
    return undefined;
  }
}

function install(): void {
  const dir = cacheDir();
  if (!dir) return;
  const M = Module as unknown as ModuleInternals;
  const compile = M.prototype._compile;
  const toWrite: [string, vm.Script][] = [];
  M.prototype._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    // Files that import() need Node's own ESM hook; anything outside the package is not ours to cache.
    if (!filename.startsWith(PACKAGE_ROOT + path.sep) || content.includes('import(')) return compile.call(this, content, filename);
    const file = path.join(dir, createHash('sha1').update(filename).update('\0').update(content).digest('hex'));
    let cachedData: Buffer | undefined;
    try {
      cachedData = fs.readFileSync(file);
    } catch {
      cachedData = undefined;
    }
    // A shebang is a comment to the loader, not to a wrapped function.
    const source = M.wrap(content.startsWith('#!') ? '//' + content : content);
    const script = new vm.Script(source, { filename, cachedData });
    if (!cachedData || script.cachedDataRejected) toWrite.push([file, script]);
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    const requireFn = Object.assign((id: string) => this.require(id), {
      resolve: Object.assign((request: string, options?: unknown) => M._resolveFilename(request, this, false, options), {
        paths: (request: string) => M._resolveLookupPaths(request, this),
      }),
      main: MAIN,
      extensions: M._extensions,
      cache: M._cache,
    });
    return wrapper.call(this.exports, this.exports, requireFn, this, filename, path.dirname(filename));
  };
  // At exit the functions run so far are compiled too, and go into the cache with the rest.
  process.once('exit', () => {
    for (const [file, script] of toWrite) {
      try {
        const tmp = `${file}.${process.pid}`;
        fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
        fs.renameSync(tmp, file);
      } catch {
        return;
      }
    }
  });
}

/**
 * Only the commands that attach probes, whose start-up someone waits on, use it:
 * `report` opens other people's captures and writes nothing (README), and the
 * rest are not worth a file.
 */
function attaches(argv: string[]): boolean {
  return /^iommutop(\.js)?$/.test(path.basename(argv[1] ?? '')) || ['record', 'top', 'export'].includes(argv[2] ?? '');
}

if (!process.env.IOMMUTRACE_NO_CODE_CACHE && attaches(process.argv)) install();
