/**
 * C0 and C1 control characters, DEL, and the bidirectional-text controls: what a
 * terminal acts on (ESC [ 2 J clears it, OSC 52 writes the clipboard, OSC 8 makes
 * links, an 8-bit CSI does what ESC [ does, U+202E reorders what follows) instead of
 * showing. Captures come from other machines, and a process names itself (comm) as
 * it likes: nothing from one reaches a terminal raw.
 */
const ABOVE_C0 = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
export const UNSAFE = new RegExp(`[\\u0000-\\u001f${ABOVE_C0}]`, 'g');
/** The same less C0, which JSON.stringify escapes itself (and whose newline it uses to lay out). */
const UNSAFE_IN_JSON = new RegExp(`[${ABOVE_C0}]`, 'g');

/** Longest string shown in a text report; the JSON has the whole of it. */
export const MAX_SHOWN = 512;

/** `s` with its control characters escaped as \xNN / \uNNNN. */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** `s` safe to print: control characters escaped, and cut (with a note) past MAX_SHOWN. */
export function printable(s: string): string {
  return escapeControls(s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...(${s.length - MAX_SHOWN} more characters)` : s);
}

/**
 * A deep copy with every string (keys included) made printable. Keys are defined, not
 * assigned, so a key named `__proto__` stays a key and never becomes a prototype.
 */
export function printableDeep<T>(v: T): T {
  if (typeof v === 'string') return printable(v) as T;
  if (Array.isArray(v)) return v.map((x) => printableDeep(x)) as T;
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    Object.defineProperty(out, printable(k), { value: printableDeep(x), enumerable: true, writable: true, configurable: true });
  }
  return out as T;
}

/** JSON of `value` with no character a terminal would act on: the same data, only escaped. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/** Columns a terminal report wraps to: the terminal's width, 80 when stdout is not one. */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  return stream.isTTY && stream.columns ? stream.columns : 80;
}

/**
 * `text` broken at spaces into lines of at most `width` characters, the ones after
 * the first starting with `indent` spaces. Runs of spaces inside a line are kept (they
 * align columns); a word longer than a line stays whole.
 */
export function wrap(text: string, width: number, indent = 0): string[] {
  const out: string[] = [];
  let line = '';
  for (const token of text.match(/\S+\s*/g) ?? ['']) {
    const lead = out.length ? ' '.repeat(indent) : '';
    if (line.trim() && (lead + line + token).trimEnd().length > width) {
      out.push((lead + line).trimEnd());
      line = token;
    } else {
      line += token;
    }
  }
  out.push(((out.length ? ' '.repeat(indent) : '') + line).trimEnd());
  return out;
}

/**
 * Aligned text columns for terminal reports; the last column is never padded, and
 * with `width` it wraps under itself (or under the row, when too narrow). Control
 * characters in cells are escaped.
 */
export function table(header: string[], rows: string[][], gap = 2, width?: number): string {
  const cells = rows.map((r) => r.map((c) => escapeControls(c ?? '')));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const lastAt = widths.slice(0, -1).reduce((sum, w) => sum + w + gap, 0);
  const room = width === undefined ? Infinity : width - lastAt;
  const line = (row: string[]): string => {
    const head = row.slice(0, -1).map((c, i) => c.padEnd(widths[i] + gap)).join('');
    const last = row[row.length - 1] ?? '';
    if (last.length <= room) return (head + last).trimEnd();
    // Too little room at the right: the last column goes under the row, indented.
    if (room < 20) return [head.trimEnd(), ...wrap(last, width! - 4).map((l) => `    ${l}`)].join('\n');
    const [first, ...more] = wrap(last, room);
    return [(head + first).trimEnd(), ...more.map((l) => ' '.repeat(lastAt) + l)].join('\n');
  };
  return [line(header), ...cells.map(line)].join('\n');
}
