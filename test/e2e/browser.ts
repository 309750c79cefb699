/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a
 * pipe (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each message
 * JSON ended by a NUL), with no dependency: enough to open a page, read it, collect
 * its console errors and the requests it made, and take screenshots.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const CHROMIUM = ['chromium', 'chromium-browser'].find((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0);

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

export class Browser {
  private readonly proc: ChildProcess;
  private readonly out: Writable;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: { method: string; resolve: (p: any) => void }[] = [];
  private session = '';
  private readonly profile = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-chromium-'));
  /** Console errors, uncaught exceptions and error log entries of the page. */
  readonly errors: string[] = [];
  /** Every URL the page asked for. */
  readonly requests: string[] = [];

  constructor(width = 1280, height = 900) {
    this.proc = spawn(
      CHROMIUM!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--remote-debugging-pipe',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-component-update',
        // Any name the page looked up would fail: no network, even by mistake.
        '--host-resolver-rules=MAP * ~NOTFOUND',
        '--hide-scrollbars',
        `--window-size=${width},${height}`,
        `--user-data-dir=${this.profile}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
    );
    this.out = this.proc.stdio[3] as Writable;
    let buf = Buffer.alloc(0);
    (this.proc.stdio[4] as Readable).on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let end;
      while ((end = buf.indexOf(0)) >= 0) {
        this.onMessage(JSON.parse(buf.subarray(0, end).toString('utf8')));
        buf = buf.subarray(end + 1);
      }
    });
    this.proc.stderr!.resume();
  }

  private onMessage(m: any): void {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`${m.error.message} (${m.error.code})`));
      else p?.resolve(m.result);
      return;
    }
    const params = m.params ?? {};
    if (m.method === 'Runtime.consoleAPICalled' && (params.type === 'error' || params.type === 'assert')) {
      this.errors.push(`console.${params.type}: ${params.args.map((a: any) => a.value ?? a.description).join(' ')}`);
    } else if (m.method === 'Runtime.exceptionThrown') {
      this.errors.push(`exception: ${params.exceptionDetails.exception?.description ?? params.exceptionDetails.text}`);
    } else if (m.method === 'Log.entryAdded' && params.entry.level === 'error') {
      this.errors.push(`log: ${params.entry.text}${params.entry.url ? ` (${params.entry.url})` : ''}`);
    } else if (m.method === 'Network.requestWillBeSent') {
      this.requests.push(params.request.url);
    }
    for (const [i, w] of this.waiters.entries()) {
      if (w.method === m.method) {
        this.waiters.splice(i, 1);
        w.resolve(params);
        break;
      }
    }
  }

  /** One protocol command; on the page's session once open() attached it. */
  send(method: string, params: object = {}, browserLevel = false): Promise<any> {
    const id = this.nextId++;
    const msg: any = { id, method, params };
    if (this.session && !browserLevel) msg.sessionId = this.session;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.out.write(JSON.stringify(msg) + '\0');
    });
  }

  private event(method: string): Promise<any> {
    return new Promise((resolve) => this.waiters.push({ method, resolve }));
  }

  /** Opens `url` in a new tab and waits for its load event; returns the milliseconds from navigation to load. */
  async open(url: string): Promise<number> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }, true);
    this.session = (await this.send('Target.attachToTarget', { targetId, flatten: true }, true)).sessionId;
    for (const d of ['Runtime', 'Log', 'Network', 'Page']) await this.send(`${d}.enable`);
    const loaded = this.event('Page.loadEventFired');
    const t0 = performance.now();
    await this.send('Page.navigate', { url });
    await loaded;
    return performance.now() - t0;
  }

  /** The value of a page expression (JSON-able). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A mouse event at page coordinates (CSS pixels of the window). */
  async mouse(type: 'mouseMoved' | 'mousePressed' | 'mouseReleased', x: number, y: number, clickCount = 0): Promise<void> {
    await this.send('Input.dispatchMouseEvent', { type, x, y, button: type === 'mouseMoved' ? 'none' : 'left', buttons: type === 'mousePressed' ? 1 : 0, clickCount });
  }

  /** A PNG of the element `selector`, whole even below the window's height. */
  async screenshot(selector: string, file: string): Promise<void> {
    const rect = await this.evaluate<{ x: number; y: number; width: number; height: number }>(
      `(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height }; })()`,
    );
    const shot = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { ...rect, scale: 1 } });
    fs.writeFileSync(file, Buffer.from(shot.data, 'base64'));
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    try {
      await Promise.race([this.send('Browser.close', {}, true), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}
