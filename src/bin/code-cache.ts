/**
 * V8's code cache for the CLI's own modules and its dependencies: compiling the
 * couple of hundred files oclif, protobufjs and ours load is a third of the time
 * before the probes attach. Node 22.1 and later keep it themselves
 * (module.enableCompileCache), pointed here at a directory only this user can
 * write (systemd's CacheDirectory when the agent runs as a service, else
 * ~/.cache/iommutrace). Node 20 has none: there each file's compiled code is
 * kept by hand, keyed by its contents, in the same directory. A missing, stale or
 * rejected entry only means compiling as usual; it is written when the process exits.
 *
 * Beside it, where each require() of the package's files led (resolved.json):
 * Node resolves the 300 requests of a start by trying extensions, reading
 * package.json files and their exports, 21-25 ms of a 165 ms start here. An
 * answer is used only while its file is there and node_modules is as it was
 * (npm rewrites node_modules/.package-lock.json at every install).
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

/** What invalidates every kept resolution: the package's place and its node_modules' last install. */
function layoutStamp(): string {
  const mtime = (f: string) => fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  return `${PACKAGE_ROOT}:${mtime(path.join(PACKAGE_ROOT, 'node_modules', '.package-lock.json'))}:${mtime(path.join(PACKAGE_ROOT, 'package.json'))}`;
}

const inside = (f: string) => f.startsWith(PACKAGE_ROOT + path.sep);

/** Keeps Node's answers to the package's require()s (resolved.json in `dir`), written at exit when new ones came. */
function keepResolutions(dir: string, M: ModuleInternals): void {
  const file = path.join(dir, 'resolved.json');
  const stamp = layoutStamp();
  let known: Record<string, string> = {};
  try {
    const kept = JSON.parse(fs.readFileSync(file, 'utf8')) as { stamp?: string; resolved?: Record<string, string> };
    if (kept.stamp === stamp && kept.resolved && typeof kept.resolved === 'object') known = kept.resolved;
  } catch {
    // None yet, or not ours to read: resolve as Node does.
  }
  let added = false;
  const resolve = M._resolveFilename;
  M._resolveFilename = function (request: string, parent: CompilingModule & { filename?: string }, isMain: boolean, options?: unknown): string {
    const from = parent?.filename;
    if (isMain || options !== undefined || !from || !inside(from) || Module.isBuiltin(request)) return resolve.call(this, request, parent, isMain, options);
    const key = `${path.dirname(from)}\0${request}`;
    const hit = known[key];
    if (typeof hit === 'string' && inside(hit) && fs.statSync(hit, { throwIfNoEntry: false })?.isFile()) return hit;
    const found = resolve.call(this, request, parent, isMain, options);
    if (inside(found)) {
      known[key] = found;
      added = true;
    }
    return found;
  };
  process.once('exit', () => {
    if (!added) return;
    try {
      const tmp = `${file}.${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify({ stamp, resolved: known }), { mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch {
      // A cache that cannot be written is only slower next time.
    }
  });
}

/** Node's own compile cache (22.1+), absent from @types/node 20. */
const builtinCache = (Module as unknown as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;

function install(): void {
  const dir = cacheDir();
  if (!dir) return;
  const M = Module as unknown as ModuleInternals;
  keepResolutions(dir, M);
  if (builtinCache) {
    builtinCache(dir);
    return;
  }
  const compile = M.prototype._compile;
  const toWrite: [string, vm.Script][] = [];
  M.prototype._compile = function (this: CompilingModule, content: string, filename: string): unknown {
    // Files that import() need Node's own ESM hook; anything outside the package is not ours to cache.
    if (!inside(filename) || content.includes('import(')) return compile.call(this, content, filename);
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
