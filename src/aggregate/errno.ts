import { constants } from 'node:os';
import { ENOTSUPP } from '../probes/kernel-view';

/** Second names of one number: the kernel's own spelling is the other (EAGAIN, EOPNOTSUPP). */
const ALIASES = new Set(['EWOULDBLOCK', 'ENOTSUP']);

/** Errno number -> name, from the C library's table as Node has it, and Linux's kernel-internal ENOTSUPP. */
const NAMES = new Map<number, string>([
  ...Object.entries(constants.errno)
    .filter(([name]) => !ALIASES.has(name))
    .map(([name, n]) => [n, name] as [number, string]),
  [ENOTSUPP, 'ENOTSUPP'],
]);

/** "EFAULT" for -14 or 14; "E123" for what we do not name. */
export function errnoName(err: number): string {
  const n = Math.abs(err);
  return NAMES.get(n) ?? `E${n}`;
}
