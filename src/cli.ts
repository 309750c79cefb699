import * as os from 'node:os';
import * as path from 'node:path';
import { Config } from '@oclif/core/config';
import { flush } from '@oclif/core/flush';
import { run } from '@oclif/core/run';
import { closest, describeError, USAGE_EXIT } from './command';

const DEBUG = '--debug';

/**
 * The command line as oclif should see it: `--debug` is a flag of every command,
 * and oclif takes whatever comes first for the command, so a `--debug` given
 * before the command moves behind it. Nothing after `--` is ours to move.
 */
export function placeDebug(args: string[]): string[] {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const ours = args.slice(0, end);
  if (!ours.includes(DEBUG)) return args;
  const rest = ours.filter((a) => a !== DEBUG);
  const at = rest.findIndex((a) => !a.startsWith('-'));
  // No command: oclif answers (help, --version) and there is nothing to debug.
  if (at < 0) return [...rest, ...args.slice(end)];
  return [...rest.slice(0, at + 1), DEBUG, ...rest.slice(at + 1), ...args.slice(end)];
}

/**
 * Why `args` names no command, in one line, or undefined when it does (or asks
 * for help or the version, which oclif answers itself).
 */
export function unknownCommand(args: string[], ids: string[]): string | undefined {
  const first = args[0];
  if (first === undefined || first === '--help' || first === '--version') return undefined;
  if (first.startsWith('-')) return `${first} is not an option before a command: iommutrace COMMAND [FLAGS] (commands: ${ids.join(', ')})`;
  const word = first;
  if (ids.includes(word)) return undefined;
  const near = closest(word, ids);
  return `unknown command ${word}${near ? `; did you mean ${near}?` : ''} (commands: ${ids.join(', ')})`;
}

/**
 * oclif's Config.load asks whether it runs under WSL by importing the ES module
 * wsl-utils, and Node starts its whole ESM loader for that one question: 25 ms
 * of a 180 ms start-up to the probes attached. The answer only fills
 * config.platform, so give it here, the way wsl-utils finds it (a Microsoft
 * kernel release), without the import. oclif 4 reads getPlatform from its
 * util/os module at each call, which is what makes the replacement take.
 */
export function answerPlatform(): void {
  const oclifOs = path.join(path.dirname(require.resolve('@oclif/core/package.json')), 'lib', 'util', 'os.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(oclifOs) as { getPlatform?: () => Promise<string> };
  if (typeof mod.getPlatform !== 'function') return;
  mod.getPlatform = async () => (process.platform === 'linux' && /microsoft/i.test(os.release()) ? 'wsl' : process.platform);
}

/** Runs the oclif CLI rooted at the package, whichever binary started us. */
export async function runCli(argv: string[]): Promise<void> {
  let args = placeDebug(argv);
  const debug = args.slice(0, args.includes('--') ? args.indexOf('--') : args.length).includes(DEBUG);
  // `iommutrace help [COMMAND]` is the same as `--help`: there is no help command.
  if (args[0] === 'help') args = [...args.slice(1), '--help'];
  try {
    answerPlatform();
    // No plugins but our own: the user's oclif plugin list (~/.local/share/iommutrace) is not
    // read, which a service with ProtectHome=yes could not (a warning in its journal).
    const config = await Config.load({ root: path.resolve(__dirname, '..', '..', 'package.json'), userPlugins: false });
    const ids = [...config.commandIDs].sort();
    const unknown = unknownCommand(args, ids);
    if (unknown) {
      process.stderr.write(`iommutrace: ${unknown}\n`);
      process.exitCode = USAGE_EXIT;
      return;
    }
    // oclif reads `doctor extra` as a command `doctor:extra` (topics spelt with spaces),
    // which we do not have: say what it is, an argument too many.
    const cmd = args[0] ? config.findCommand(args[0]) : undefined;
    const extra = args[1] !== undefined && args[1] !== '--' && !args[1].startsWith('-');
    if (cmd && extra && cmd.strict !== false && Object.keys(cmd.args ?? {}).length === 0) {
      process.stderr.write(`iommutrace: ${args[0]} takes no argument ${args[1]}; see iommutrace ${args[0]} --help\n`);
      process.exitCode = USAGE_EXIT;
      return;
    }
    await run(args, config);
    flush();
  } catch (err) {
    // Commands say their own errors (BaseCommand.catch); this is for the rest.
    const e = err as Error & { oclif?: { exit?: number } };
    if (e.oclif?.exit === 0) return;
    process.stderr.write(`iommutrace: ${debug && e.stack ? e.stack : describeError(e)}\n`);
    process.exitCode = e.oclif?.exit ?? 1;
  }
}
