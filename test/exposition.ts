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

/** The probes a scrape says are attached (`iommutrace_probe_attached{probe="..."} 1`), sorted. */
export function attachedProbes(samples: Map<string, number>): string[] {
  return [...samples]
    .filter(([k, v]) => v === 1 && k.startsWith('iommutrace_probe_attached{'))
    .map(([k]) => /probe="([^"]+)"/.exec(k)?.[1] ?? k)
    .sort();
}
