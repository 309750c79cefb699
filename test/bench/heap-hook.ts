/**
 * Preloaded (`node --expose-gc --require heap-hook.js CLI ...`) into a command the
 * memory benchmark runs, and only there: on SIGUSR2 it collects garbage fully and
 * appends one JSON line with the live heap and resident memory to the file named
 * by IOMMUTRACE_HEAP_HOOK (not stderr: iommutop's screen is there), so the figure
 * is what is kept rather than when V8 last collected. With
 * IOMMUTRACE_HEAP_SNAPSHOT=DIR it also writes a heap snapshot there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';

export interface HeapLine {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  /** Used kB per V8 heap space. */
  spacesKb: Record<string, number>;
  snapshot?: string;
}

let n = 0;
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('heap-hook needs --expose-gc');
  gc();
  gc(); // a second pass frees what the first one's finalizers let go
  const m = process.memoryUsage();
  const spacesKb = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_used_size / 1024)]));
  const dir = process.env.IOMMUTRACE_HEAP_SNAPSHOT;
  const snapshot = dir ? v8.writeHeapSnapshot(path.join(dir, `${process.pid}-${n++}.heapsnapshot`)) : undefined;
  const out: HeapLine = { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, spacesKb, snapshot };
  fs.appendFileSync(process.env.IOMMUTRACE_HEAP_HOOK ?? '/dev/stderr', JSON.stringify(out) + '\n');
});
