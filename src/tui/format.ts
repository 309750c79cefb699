import { escape } from 'blessed';
import { UNSAFE } from '../report/table';

export { formatBytes, formatDuration } from '../util/duration';

/** 1234 -> "1,234": exact counts where the value is the point. */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Rates and other approximate values in at most 5 characters: 12, 3.4k, 56M. */
export function compact(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0';
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 999.5 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (n < 10 && (i > 0 || n % 1 !== 0) ? n.toFixed(1) : Math.round(n).toString()) + units[i];
}

/** Bytes per second as MiB/s with one decimal ("0" when idle). */
export function mibPerSec(bytesPerSec: number): string {
  if (bytesPerSec <= 0) return '0';
  const m = bytesPerSec / 1048576;
  return m < 0.05 ? '<0.1' : m.toFixed(1);
}

/** An age or duration in seconds, coarse: 850ms, 12.3s, 4m05s, 2h10m. */
export function age(ns: number): string {
  const s = ns / 1e9;
  if (s < 1) return `${Math.round(ns / 1e6)}ms`;
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `s` cut or padded to exactly `w` columns (cut text ends in "…"). */
export function fit(s: string, w: number, align: 'left' | 'right' = 'left'): string {
  if (w <= 0) return '';
  if (s.length > w) return w === 1 ? s.slice(0, 1) : s.slice(0, w - 1) + '…';
  return align === 'left' ? s.padEnd(w) : s.padStart(w);
}

/**
 * Text from the kernel or a capture, safe inside blessed tags and on the terminal:
 * control characters (see UNSAFE) become '?', one cell for one, so widths hold.
 */
export function esc(s: string): string {
  return escape(s.replace(UNSAFE, '?'));
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** A one-line sparkline of the last `width` values, scaled to their maximum. */
export function sparkline(values: number[], width: number): string {
  const v = values.slice(-width);
  const max = Math.max(0, ...v);
  const line = v.map((x) => (max > 0 && x > 0 ? BLOCKS[Math.min(7, Math.floor((x / max) * 7.999))] : ' ')).join('');
  return line.padStart(width);
}

/** A horizontal bar of `frac` (0..1) of `width` cells, in eighths. */
export function bar(frac: number, width: number): string {
  const eighths = Math.round(Math.max(0, Math.min(1, frac)) * width * 8);
  const full = Math.floor(eighths / 8);
  const part = eighths % 8;
  return '█'.repeat(full) + (part ? '▏▎▍▌▋▊▉'[part - 1] : '');
}
