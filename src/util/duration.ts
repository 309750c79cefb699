const UNITS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** "10s", "2m", "500ms", "1h30m" -> nanoseconds; throws a one-line error otherwise. */
export function parseDuration(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += parseFloat(m[1]) * UNITS[m[2]];
    matched += m[0].length;
  }
  if (matched === 0 || matched !== text.length) {
    throw new Error(`invalid duration "${text}" (use e.g. 500ms, 10s, 2m, 1h)`);
  }
  return Math.round(total);
}

export function formatDuration(ns: number): string {
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)}us`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(1)}ms`;
  return `${(ns / 1e9).toFixed(1)}s`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}
