import * as path from 'node:path';
import { execute } from '@oclif/core';

/** Runs the oclif CLI rooted at the package, whichever binary started us. */
export async function runCli(args: string[]): Promise<void> {
  await execute({ args, dir: path.resolve(__dirname, '..', '..', 'package.json') });
}
