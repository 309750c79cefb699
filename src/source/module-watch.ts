import * as fs from 'node:fs';

/** One line of /proc/modules: where the module is loaded ("0x0" without CAP_SYSLOG) and whether it is live. */
export interface ModuleLine {
  address: string;
  live: boolean;
}

/** /proc/modules by name ("vfio_iommu_type1 45056 0 - Live 0xffffffffc0a3c000"); empty where there is none. */
export function readModuleLines(file = '/proc/modules'): Map<string, ModuleLine> {
  const out = new Map<string, ModuleLine>();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0]) out.set(f[0], { address: f[5] ?? '', live: f[4] === 'Live' });
  }
  return out;
}

/** What changed since the last look: modules gone (or back at another address), modules now live. */
export interface ModuleChanges {
  gone: { module: string; reloaded: boolean }[];
  loaded: string[];
}

/**
 * Modules that came and went between two looks at /proc/modules. A module counts
 * as loaded once it is live (its init has run and its BTF is registered: fentry
 * can target it then). One unloaded and loaded again between two looks is told
 * by its new address where addresses are readable (CAP_SYSLOG); it is then both
 * gone and loaded.
 */
export class ModuleWatch {
  private seen: Map<string, string>;

  constructor(now: Map<string, ModuleLine>) {
    this.seen = new Map([...now].filter(([, l]) => l.live).map(([m, l]) => [m, l.address]));
  }

  look(now: Map<string, ModuleLine>): ModuleChanges {
    const out: ModuleChanges = { gone: [], loaded: [] };
    const readable = (a: string | undefined): boolean => a !== undefined && a !== '' && !/^0x0*$/.test(a);
    for (const [module, address] of this.seen) {
      const line = now.get(module);
      const reloaded = line !== undefined && readable(address) && readable(line.address) && line.address !== address;
      if (line && !reloaded) continue;
      this.seen.delete(module);
      out.gone.push({ module, reloaded });
    }
    for (const [module, line] of now) {
      if (!line.live || this.seen.has(module)) continue;
      this.seen.set(module, line.address);
      out.loaded.push(module);
    }
    return out;
  }
}
