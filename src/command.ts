import { getSystemErrorMap } from 'node:util';
// oclif's parts by their own entry points, never '@oclif/core' itself: its index
// loads all of oclif (help, semver for an engine check, ...), a fifth of start-up.
import { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';

/** Exit status of a command line that does not parse (oclif's, kept for every usage error). */
export const USAGE_EXIT = 2;

/** An error meant for the user: printed as one line, never with a stack. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/**
 * Base of every command: errors become one clear line on stderr and a non-zero
 * exit; `--debug` shows the stack for the rare case a developer needs it.
 */
export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'show stack traces on errors (accepted before the command too)', default: false, helpGroup: 'GLOBAL' }),
  };

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits (help, version, this.exit()) pass through untouched.
    if (err.oclif?.exit !== undefined && !(err instanceof UserError)) {
      if (err.oclif.exit === 0) return;
      if (err.message && err.message !== 'EEXIT: ' + err.oclif.exit) process.stderr.write(`iommutrace: ${usageLine(err.message, this.id)}\n`);
      process.exitCode = err.oclif.exit;
      return;
    }
    const debug = this.argv.includes('--debug');
    const where = (err as NodeJS.ErrnoException).path;
    const line = where && errnoWords(String((err as NodeJS.ErrnoException).code)) ? `${where}: ${describeError(err)}` : describeError(err);
    process.stderr.write(`iommutrace: ${debug && err.stack ? err.stack : line}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : 1;
  }
}

/**
 * oclif's parse errors in one line. They come over several: a heading ending in a
 * colon or followed by indented detail ("Parsing --pid", "\tExpected an integer..."),
 * arguments as "name  description", and a closing pointer to --help.
 */
export function usageLine(message: string, id?: string): string {
  const lines = message.split('\n').filter((l) => l.trim() !== '');
  let out = '';
  for (const [i, raw] of lines.entries()) {
    let line = raw.trim().replace(/^(\S+) {2,}(\S.*)$/, '$1 ($2)');
    if (/^See more help with --help$/.test(line)) line = `see iommutrace ${id ? `${id} ` : ''}--help`;
    if (i === 0) out = line;
    else if (out.endsWith(':')) out += ` ${line}`;
    else if (/^\s/.test(raw) && !/^See more help/.test(raw.trim())) out += `: ${line}`;
    else out += `; ${line}`;
  }
  return out || 'unknown error';
}

/** Node's words for an errno name ('ENOENT' -> 'no such file or directory'). */
export function errnoWords(code: string): string | undefined {
  for (const [name, words] of getSystemErrorMap().values()) if (name === code) return words;
  return undefined;
}

/**
 * An error's message in one line. A system error says its cause in words, once
 * (Node's "ENOENT: no such file or directory, open 'x'" becomes "no such file or
 * directory"); the caller says which file or address it was about.
 */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words = typeof e?.code === 'string' && e.syscall !== undefined ? errnoWords(e.code) : undefined;
  if (words) return words;
  const message = String(e?.message ?? err);
  return message.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';
}

/** The candidate nearest `word` by edit distance, when near enough to be a slip. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) ? 1 : editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}
