import { Command, Flags } from '@oclif/core';

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
    debug: Flags.boolean({ description: 'show stack traces on errors', default: false, helpGroup: 'GLOBAL' }),
  };

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own exits (help, version, this.exit()) pass through untouched.
    if (err.oclif?.exit !== undefined && !(err instanceof UserError)) {
      if (err.oclif.exit === 0) return;
      if (err.message && err.message !== 'EEXIT: ' + err.oclif.exit) process.stderr.write(`iommutrace: ${firstLine(err.message)}\n`);
      process.exitCode = err.oclif.exit;
      return;
    }
    const debug = this.argv.includes('--debug');
    process.stderr.write(`iommutrace: ${debug && err.stack ? err.stack : firstLine(err.message)}\n`);
    process.exitCode = err instanceof UserError ? err.exitCode : 1;
  }
}

function firstLine(s: string): string {
  const line = s.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
  return line.trim();
}
