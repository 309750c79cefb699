/**
 * The memory of `record`, `export` and `top`, three runs each (see memory.ts):
 * record over 10 M kernel events; export and top replaying 10 M events holding
 * a million references never put. Part of `npm run bench`; alone (as root):
 *
 *   node dist/test/bench/memory-bench.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tracefs } from '../helpers';
import { exportMemory, writeLeakCapture } from './export-memory';
import { memoryFigures, MemoryFigure, MemoryRun } from './memory';
import { recordMemory } from './record-memory';
import { topMemory } from './top-memory';

const EVENTS = 10_000_000;
const RUNS = 3;

export async function memoryBench(tmp: string): Promise<MemoryFigure[]> {
  const hook = path.join(tmp, 'heap-hook.jsonl');
  const runs = async (one: () => Promise<MemoryRun>): Promise<MemoryRun[]> => {
    const out: MemoryRun[] = [];
    for (let i = 0; i < RUNS; i++) out.push(await one());
    return out;
  };
  const recorded = path.join(tmp, 'record.iotrace');
  const rec = await runs(() => recordMemory(recorded, EVENTS, hook));
  fs.rmSync(recorded, { force: true });
  const leaks = path.join(tmp, 'leaks.iotrace');
  writeLeakCapture(leaks, EVENTS);
  try {
    const exp = await runs(() => exportMemory(leaks, EVENTS, hook));
    const top = await runs(() => topMemory(leaks, EVENTS, hook));
    return [
      ...memoryFigures('record', rec, { growthMb: 50, peakMb: 100 }, 'once attached'),
      ...memoryFigures('export', exp, { growthMb: 50, peakMb: 100 }, 'after the first 1 M events'),
      ...memoryFigures('top', top, { growthMb: 50 }, 'at the first screen'),
    ];
  } finally {
    fs.rmSync(leaks, { force: true });
  }
}

if (require.main === module) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-memory-'));
  tracefs();
  memoryBench(tmp)
    .then((figures) => {
      for (const f of figures) console.log(`${f.name}: ${f.value.toFixed(1)} ${f.unit} (reference ${f.reference.name} ${f.reference.value.toFixed(1)}; goal ${f.goal})\n  ${f.note}`);
    })
    .catch((e) => {
      console.error(`memory-bench: ${(e as Error).message}`);
      process.exitCode = 1;
    })
    .finally(() => fs.rmSync(tmp, { recursive: true, force: true }));
}
