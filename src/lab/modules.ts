import * as fs from 'node:fs';
import * as path from 'node:path';

/** A module file to load, in load order, with its parameters. */
export interface ModuleLoad {
  name: string;
  /** Path relative to lib/modules/<release>, as modules.dep spells it. */
  file: string;
  params: string[];
}

const normalize = (name: string): string => name.replace(/-/g, '_');

function moduleName(file: string): string {
  return normalize(path.basename(file).replace(/\.ko(\.[a-z]+)?$/, ''));
}

/**
 * Load order for the wanted modules and everything they depend on, from modules.dep
 * (which depmod regenerates for each ABI, so the order is never hard-coded). Modules
 * built into the kernel and modules this kernel does not have are left out.
 */
export function moduleClosure(modulesDir: string, wanted: string[], params: Record<string, string[]> = {}): ModuleLoad[] {
  const deps = new Map<string, { file: string; deps: string[] }>();
  for (const line of fs.readFileSync(path.join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    deps.set(moduleName(file), { file, deps: rest.trim().split(/\s+/).filter(Boolean).map(moduleName) });
  }
  const order: ModuleLoad[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const entry = deps.get(name);
    if (!entry) return;
    // modules.dep lists the deepest dependency last; modprobe loads from the end.
    for (const dep of [...entry.deps].reverse()) visit(dep);
    order.push({ name, file: entry.file, params: params[name] ?? [] });
  };
  for (const w of wanted) visit(normalize(w));
  return order;
}
