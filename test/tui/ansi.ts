/**
 * Terminal text as tmux's `capture-pane -e -p` prints it (SGR colours) turned into styled runs, then into plain text (for tests)
 * or HTML (for the screenshot).
 */
export interface Style {
  fg?: string;
  bg?: string;
  bold?: boolean;
  inverse?: boolean;
}

export interface Run extends Style {
  text: string;
}

/** The xterm palette's first 16 colours (tmux's defaults), then the 256-colour cube and greys. */
function palette(n: number): string {
  const base = ['#1c1c1c', '#cd3131', '#0dbc79', '#e5e510', '#2472c8', '#bc3fbc', '#11a8cd', '#e5e5e5', '#7c7c7c', '#f14c4c', '#23d18b', '#f5f543', '#3b8eea', '#d670d6', '#29b8db', '#ffffff'];
  if (n < 16) return base[n];
  if (n < 232) {
    const c = n - 16;
    const v = (x: number): number => (x ? 55 + x * 40 : 0);
    return rgb(v(Math.floor(c / 36)), v(Math.floor(c / 6) % 6), v(c % 6));
  }
  const g = 8 + (n - 232) * 10;
  return rgb(g, g, g);
}

function rgb(r: number, g: number, b: number): string {
  return '#' + [r, g, b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Applies one SGR parameter list to a style. */
function sgr(style: Style, params: number[]): Style {
  const s = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i];
    if (p === 0) {
      delete s.fg;
      delete s.bg;
      delete s.bold;
      delete s.inverse;
    } else if (p === 1) s.bold = true;
    else if (p === 22) delete s.bold;
    else if (p === 7) s.inverse = true;
    else if (p === 27) delete s.inverse;
    else if (p >= 30 && p <= 37) s.fg = palette(p - 30);
    else if (p >= 90 && p <= 97) s.fg = palette(p - 90 + 8);
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = palette(p - 40);
    else if (p >= 100 && p <= 107) s.bg = palette(p - 100 + 8);
    else if (p === 49) delete s.bg;
    else if ((p === 38 || p === 48) && params[i + 1] === 5) {
      s[p === 38 ? 'fg' : 'bg'] = palette(params[i + 2] ?? 0);
      i += 2;
    } else if ((p === 38 || p === 48) && params[i + 1] === 2) {
      s[p === 38 ? 'fg' : 'bg'] = rgb(params[i + 2] ?? 0, params[i + 3] ?? 0, params[i + 4] ?? 0);
      i += 4;
    }
  }
  return s;
}

function same(a: Style, b: Style): boolean {
  return a.fg === b.fg && a.bg === b.bg && !!a.bold === !!b.bold && !!a.inverse === !!b.inverse;
}

/** Splits captured text into lines of styled runs. */
export function parseAnsi(text: string): Run[][] {
  const lines: Run[][] = [];
  let style: Style = {};
  for (const raw of text.replace(/\n$/, '').split('\n')) {
    const runs: Run[] = [];
    const put = (ch: string): void => {
      const last = runs[runs.length - 1];
      if (last && same(last, style)) last.text += ch;
      else runs.push({ ...style, text: ch });
    };
    // Escape sequences we know, or one character.
    const re = /\x1b\[([0-9;]*)m|\x1b[[(][0-9;?]*[A-Za-z]|([\s\S])/gu;
    for (let m = re.exec(raw); m; m = re.exec(raw)) {
      if (m[1] !== undefined) style = sgr(style, m[1] === '' ? [0] : m[1].split(';').map(Number));
      else if (m[2] !== undefined) put(m[2]);
    }
    lines.push(runs);
  }
  return lines;
}

export function toPlain(lines: Run[][]): string {
  return lines.map((runs) => runs.map((r) => r.text).join('').trimEnd()).join('\n');
}

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const DEFAULT_FG = '#d0d0d0';
export const DEFAULT_BG = '#101014';

/** A standalone HTML page showing the lines as a terminal would, in a monospace grid. */
export function toHtml(lines: Run[][], title: string): string {
  const body = lines
    .map((runs) =>
      runs
        .map((r) => {
          let fg = r.fg ?? DEFAULT_FG;
          let bg = r.bg;
          if (r.inverse) [fg, bg] = [bg ?? DEFAULT_BG, fg];
          const css = [`color:${fg}`, bg ? `background:${bg}` : '', r.bold ? 'font-weight:bold' : ''].filter(Boolean).join(';');
          // DejaVu Sans Mono has no braille (the line charts' dots): the fallback font's are
          // narrower, so each such cell is held to the grid's width.
          const text = html(r.text).replace(/[\u2800-\u28ff]+/g, (dots) => [...dots].map((d) => `<span class="cell">${d}</span>`).join(''));
          return `<span style="${css}">${text}</span>`;
        })
        .join(''),
    )
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${html(title)}</title>
<style>
  html, body { margin: 0; background: ${DEFAULT_BG}; }
  pre { margin: 0; padding: 12px 14px; color: ${DEFAULT_FG}; font: 13px/1.25 'DejaVu Sans Mono', monospace; }
  span { white-space: pre; }
  .cell { display: inline-block; width: 1ch; }
</style></head>
<body><pre>${body}</pre></body></html>
`;
}
