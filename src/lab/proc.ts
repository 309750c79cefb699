import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with every complete line the process prints (stdout and stderr). */
  onLine?: (line: string) => void;
}

/** Runs a program to completion; rejects with its last output lines when it fails. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const tail: string[] = [];
    const partial = { stdout: '', stderr: '' };
    const feed = (which: 'stdout' | 'stderr', chunk: Buffer): void => {
      const text = partial[which] + chunk.toString();
      const lines = text.split('\n');
      partial[which] = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        opts.onLine?.(line);
      }
    };
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      feed('stdout', c);
    });
    child.stderr.on('data', (c: Buffer) => feed('stderr', c));
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString());
      const last = [...tail, partial.stdout, partial.stderr].filter((l) => l.trim() !== '').slice(-15).join('\n');
      reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${last ? `:\n${last}` : ''}`));
    });
  });
}
