import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { toHtml } from './ansi';
import { Pane } from './tmux';

/**
 * The README's screenshot, from a real run: iommutop replays a capture in a
 * 160x48 tmux pane until the replay ends, the pane (with its colours) becomes an
 * HTML page, and Debian's headless Chromium renders it to PNG.
 *
 *   node dist/test/tui/screenshot.js CAPTURE [OUT.png] [SPEED]
 *
 * Needs tmux and chromium (apt-get install chromium fonts-dejavu-core).
 */
const COLS = 160;
const ROWS = 48;
/** DejaVu Sans Mono at 13px, line height 1.25, 14px/12px page padding (see toHtml). */
const WIDTH = Math.ceil(COLS * 7.83 + 28);
const HEIGHT = Math.ceil(ROWS * 16.25 + 24);

async function main(): Promise<void> {
  const [capture, out = path.resolve(__dirname, '..', '..', '..', 'dashboards', 'iommutop.png'), speed = '4'] = process.argv.slice(2);
  if (!capture) throw new Error('usage: screenshot.js CAPTURE [OUT.png] [SPEED]');
  const root = path.resolve(__dirname, '..', '..', '..');
  const cli = path.join(root, 'dist', 'src', 'bin', 'iommutrace.js');
  const pane = Pane.start(COLS, ROWS, root);
  let styled;
  try {
    pane.run(`node ${cli} top --replay ${path.resolve(capture)} --speed ${speed} --interval 250ms`);
    await pane.waitFor((s) => s.includes('replay ended'), 10 * 60_000, 'the replay to end');
    // One more redraw, so the header's CPU figure is a steady one.
    await new Promise((r) => setTimeout(r, 600));
    styled = pane.styled();
    pane.keys('q');
  } finally {
    pane.kill();
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutop-shot-'));
  const html = path.join(dir, 'iommutop.html');
  fs.writeFileSync(html, toHtml(styled, 'iommutop'));
  execFileSync(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--hide-scrollbars',
      `--screenshot=${path.resolve(out)}`,
      `--window-size=${WIDTH},${HEIGHT}`,
      `file://${html}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`wrote ${out} (${WIDTH}x${HEIGHT}) from ${capture}\n`);
}

main().catch((err) => {
  process.stderr.write(`screenshot: ${(err as Error).message}\n`);
  process.exit(1);
});
