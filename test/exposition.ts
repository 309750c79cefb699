/** Prometheus' text exposition, as the tests read it. */

/** Parses the text exposition into "name{labels}" -> value (labels as written). */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** One sample of a metric in Prometheus text, by its labels (all given must match); undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

/** The probes a scrape says are attached (`iommutrace_probe_attached{probe="..."} 1`), sorted. */
export function attachedProbes(samples: Map<string, number>): string[] {
  return [...samples]
    .filter(([k, v]) => v === 1 && k.startsWith('iommutrace_probe_attached{'))
    .map(([k]) => /probe="([^"]+)"/.exec(k)?.[1] ?? k)
    .sort();
}
