import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAnsi, Run, toPlain } from './ansi';
import { commandWorks } from '../helpers';

let sessions = 0;

/**
 * A detached tmux session on a private server (its own socket, no user config,
 * UTF-8, TERM=screen-256color), for driving iommutop as a user would: type keys, read the screen.
 * Used by the end-to-end tests and the screenshot tool.
 */
export class Pane {
  private constructor(
    private readonly socket: string,
    readonly cols: number,
    readonly rows: number,
  ) {}

  static available(): boolean {
    return commandWorks('tmux', ['-V']);
  }

  /** A shell with a known prompt ("$ ") in a cols x rows terminal. */
  static start(cols: number, rows: number, cwd: string): Pane {
    const socket = `iommutop-${process.pid}-${sessions++}`;
    const p = new Pane(socket, cols, rows);
    p.tmux(['-f', '/dev/null', 'new-session', '-d', '-s', 'main', '-x', String(cols), '-y', String(rows), '-c', cwd, '-e', 'LANG=C.UTF-8', '-e', 'PS1=$ ',
      // capture-pane prints DEC line-drawing cells as letters (lqqk); ncurses' switch makes blessed draw borders in UTF-8.
      '-e', 'NCURSES_NO_UTF8_ACS=1', 'bash --norc --noprofile']);
    p.tmux(['set-option', '-g', 'status', 'off']);
    p.tmux(['set-option', '-g', 'default-terminal', 'screen-256color']);
    return p;
  }

  private tmux(args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', env: { ...process.env, LANG: 'C.UTF-8' } });
  }

  /** Types a command line and presses enter. */
  run(line: string): void {
    this.tmux(['send-keys', '-t', 'main', '-l', line]);
    this.tmux(['send-keys', '-t', 'main', 'Enter']);
  }

  /** Presses keys by tmux name ("q", "Tab", "Enter", "Escape", "C-c", "/"). */
  keys(...names: string[]): void {
    for (const k of names) this.tmux(['send-keys', '-t', 'main', k.length === 1 ? '-l' : '', k].filter(Boolean));
  }

  resize(cols: number, rows: number): void {
    this.tmux(['resize-window', '-t', 'main', '-x', String(cols), '-y', String(rows)]);
  }

  /** The screen with its colours. */
  styled(): Run[][] {
    return parseAnsi(this.tmux(['capture-pane', '-t', 'main', '-e', '-p']));
  }

  /** The screen as plain text (borders as box-drawing characters). */
  text(): string {
    return toPlain(this.styled());
  }

  /** True while the program in the pane is using the alternate screen. */
  alternateScreen(): boolean {
    return this.tmux(['display-message', '-p', '-t', 'main', '#{alternate_on}']).trim() === '1';
  }

  /** The shell's pid (the program typed into it is its child). */
  shellPid(): number {
    return Number(this.tmux(['display-message', '-p', '-t', 'main', '#{pane_pid}']).trim());
  }

  /** Appends what the program writes to the terminal to `file` (escape sequences and all), until unpipe(). */
  pipe(file: string): void {
    this.tmux(['pipe-pane', '-t', 'main', '-o', `cat >> '${file.replace(/'/g, "'\\''")}'`]);
  }

  unpipe(): void {
    this.tmux(['pipe-pane', '-t', 'main']);
  }

  /** Polls the screen until `pred` holds; throws with the last screen after `timeoutMs`. */
  async waitFor(pred: (screen: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.text();
      if (pred(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  kill(): void {
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
    // tmux leaves the socket file of a killed server behind.
    const dir = process.env.TMUX_TMPDIR ?? '/tmp';
    fs.rmSync(path.join(dir, `tmux-${process.getuid?.() ?? 0}`, this.socket), { force: true });
  }
}
