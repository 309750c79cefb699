import * as blessed from 'blessed';
import { age, compact, esc } from './format';
import { View } from './model';

interface Segment {
  text: string;
  /** Visible width (text without tags). */
  width: number;
  /** Lower goes first when the line is too long: shortened if it can be, else dropped. */
  prio: number;
  /** A shorter form, taken (instead of dropping anything) once the drop order reaches `shortAt`. */
  short?: Segment;
  shortAt?: number;
}

function seg(text: string, prio: number, plain = text, short?: Segment, shortAt?: number): Segment {
  return { text, width: plain.length, prio, short, shortAt };
}

/** The tool's own CPU use between two calls, in percent of one core. */
export class CpuMeter {
  private last = process.cpuUsage();
  private lastT = process.hrtime.bigint();

  read(): number {
    const now = process.hrtime.bigint();
    const cpu = process.cpuUsage(this.last);
    const wallUs = Number(now - this.lastT) / 1e3;
    this.last = process.cpuUsage();
    this.lastT = now;
    return wallUs > 0 ? (100 * (cpu.user + cpu.system)) / wallUs : 0;
  }
}

/**
 * The status line: host, kernel, source, probes attached/unavailable, events/s,
 * lost events (always shown, red when any), the tool's CPU, and paused/ended.
 * Less important parts are dropped first on narrow terminals.
 */
export function headerLine(v: View, width: number): string {
  const attached = v.probes.filter((p) => p.status === 'attached').length;
  // Detached: attached at the start, its module unloaded since.
  const detached = v.probes.filter((p) => p.status === 'detached').length;
  const down = v.probes.length - attached - detached;
  const gone = detached ? `, ${detached} detached` : '';
  const lost = v.lost > 0 ? seg(`{white-fg}{red-bg}{bold} lost ${compact(v.lost)} {/bold}{/red-bg}{/white-fg}`, 9, ` lost ${compact(v.lost)} `) : seg('lost 0', 9);
  const state = v.paused ? 'PAUSED' : v.kind === 'replay' && v.ended ? (v.endNote ? `replay ended: ${v.endNote.state}` : 'replay ended') : '';
  const probes = `probes ${attached} attached, ${down} unavailable${gone} (u)`;
  const parts: Segment[] = [
    seg('{bold}iommutop{/bold}', 10, 'iommutop'),
    seg(`host ${esc(v.host)}`, 2, `host ${v.host}`),
    seg(esc(v.kernel), 3, v.kernel),
    seg(v.kind === 'live' ? 'live' : `replay ${age(v.nowNs)}`, 4),
    seg(
      `probes {green-fg}${attached} attached{/green-fg}, ${down ? `{yellow-fg}${down} unavailable{/yellow-fg}` : '0 unavailable'}${gone ? `{red-fg}${gone}{/red-fg}` : ''} (u)`,
      8,
      probes,
      seg(`probes {green-fg}${attached}{/green-fg}/${v.probes.length} (u)`, 8, `probes ${attached}/${v.probes.length} (u)`),
      5,
    ),
    seg(`${compact(v.rates.rate('events'))} ev/s`, 7),
    lost,
    seg(`cpu ${v.cpuPct.toFixed(1)}%`, 6),
  ];
  const tail = state ? seg(`{black-fg}{yellow-bg} ${state} {/yellow-bg}{/black-fg}`, 10, ` ${state} `) : undefined;
  const sep = ' │ ';
  const total = (): number => parts.reduce((n, p) => n + p.width, 0) + sep.length * (parts.length - 1) + (tail ? tail.width + 1 : 0) + 2;
  while (total() > width && parts.length > 1) {
    const at = (p: Segment): number => (p.short ? p.shortAt! : p.prio);
    const next = parts.reduce((a, b) => (at(b) < at(a) ? b : a));
    if (next.short) parts.splice(parts.indexOf(next), 1, next.short);
    else parts.splice(parts.indexOf(next), 1);
  }
  const left = ' ' + parts.map((p) => p.text).join(`{gray-fg}${sep}{/gray-fg}`);
  if (!tail) return left;
  const pad = Math.max(1, width - (total() - tail.width - 1) - tail.width);
  return left + ' '.repeat(pad) + tail.text;
}

export class HeaderBar {
  readonly box: blessed.Widgets.BoxElement;

  constructor(parent: blessed.Widgets.Node) {
    this.box = blessed.box({ parent, top: 0, left: 0, width: '100%', height: 1, tags: true, wrap: false, style: { bg: 'black' } });
  }

  update(v: View): void {
    this.box.setContent(headerLine(v, this.box.width as number));
  }
}
