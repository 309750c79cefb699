import { ProbeStatus } from '../source/source';
import { Details } from './panel';

/** `head` then `text` word-wrapped to `width` columns, continuation lines indented to under the text. */
function wrap(head: string, text: string, width: number): string[] {
  const out: string[] = [];
  const room = Math.max(10, width - head.length);
  let line = '';
  for (const w of text.split(/\s+/)) {
    if (line && line.length + 1 + w.length > room) {
      out.push(line);
      line = '';
    }
    line = line ? `${line} ${w}` : w;
  }
  out.push(line);
  return out.map((l, i) => (i ? ' '.repeat(head.length) : head) + l);
}

/** The probe overlay: every unavailable probe with its reason, then what is attached where. */
export function probeDetails(probes: ProbeStatus[], width: number): Details {
  const down = probes.filter((p) => p.status !== 'attached');
  const up = probes.filter((p) => p.status === 'attached');
  const nw = Math.max(10, ...probes.map((p) => p.name.length));
  const lines = [`${down.length} unavailable:`];
  for (const p of down) lines.push(...wrap(`  ${p.name.padEnd(nw)}  `, p.reason ?? 'no reason recorded', Math.max(40, width)));
  lines.push('', `${up.length} attached:`);
  // An attached probe with a reason attached after the start (its module loaded later): it says when.
  for (const p of up) lines.push(`  ${p.name.padEnd(nw)}  ${(p.mode ?? '').padEnd(9)}  ${p.target ?? ''}${p.reason ? `  (${p.reason})` : ''}`);
  return { title: `Probes: ${up.length} attached, ${down.length} unavailable`, body: lines.join('\n') };
}
