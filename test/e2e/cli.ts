import { spawnSync, SpawnSyncOptions } from 'node:child_process';
import { CLI } from '../helpers';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would: `node dist/src/bin/iommutrace.js ARGS`. */
export function cli(args: string[], options: SpawnSyncOptions & { asUser?: string } = {}): CliResult {
  const { asUser, ...rest } = options;
  const argv = asUser ? ['runuser', '-u', asUser, '--', process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 120_000, ...rest });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** True when stderr looks like a stack trace rather than one clear line. */
export function hasStackTrace(stderr: string): boolean {
  return /^\s+at .+:\d+:\d+\)?$/m.test(stderr);
}
