/**
 * Memory of `top` (iommutop) in a real terminal (a 160x48 tmux pane): it replays
 * the export benchmark's capture (10 M events, a million references never put)
 * as fast as it can, redrawing every second, to the end, with a leak age longer
 * than the capture (the references are counted, not listed). The baseline is the
 * dashboard's first screen; the growth is the live heap at the end minus then,
 * both after a full collection.
 *
 *   node dist/test/bench/top-memory.js CAPTURE [EVENTS]   (the capture from export-memory.js)
 */
import * as fs from 'node:fs';
import { Pane } from '../tui/tmux';
import { CLI, ROOT } from '../helpers';
import { liveHeap, MB, measuredNode, MemoryRun, residentMb } from './memory';

export async function topMemory(file: string, events: number, hookFile: string): Promise<MemoryRun> {
  if (!Pane.available()) throw new Error('the memory of top needs tmux');
  const node = measuredNode(hookFile);
  const pane = Pane.start(160, 48, ROOT);
  try {
    pane.run(`IOMMUTRACE_HEAP_HOOK=${hookFile} ${process.execPath} ${node.args.join(' ')} ${CLI} top --replay ${file} --speed 0 --leak-age 0s; echo EXIT=$?`);
    await pane.waitFor((s) => s.includes('Devices') && s.includes('ev/s'), 120_000, 'the dashboard');
    const shell = pane.shellPid();
    const pid = Number(fs.readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(/\s+/)[0]);
    if (!(pid > 0)) throw new Error('no iommutop process under the pane');
    const startMb = residentMb(pid).rss;
    const base = await liveHeap(pid, hookFile);
    await pane.waitFor((s) => s.includes('replay ended'), 600_000, 'the end of the replay');
    const end = await liveHeap(pid, hookFile);
    const peakMb = residentMb(pid).peak;
    pane.keys('q');
    await pane.waitFor((s) => /^EXIT=\d+/m.test(s), 30_000, 'iommutop to exit');
    return { startMb, peakMb, heapBaseMb: base.heapUsed / MB, heapEndMb: end.heapUsed / MB, externalEndMb: end.external / MB, events, note: 'replayed to its end at --speed 0, --leak-age 0s (every reference a suspected leak: 100 listed per group, all counted)' };
  } finally {
    pane.kill();
  }
}

if (require.main === module) {
  const [file, count] = process.argv.slice(2);
  topMemory(file, Number(count ?? 10_000_000), `${file}.top-heap`).then((r) => console.log(JSON.stringify(r)), (e) => {
    console.error(`top-memory: ${(e as Error).message}`);
    process.exitCode = 1;
  });
}
