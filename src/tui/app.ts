import * as blessed from 'blessed';
import { EventSource } from '../source/source';
import { FooterBar } from './footer';
import { CpuMeter, HeaderBar } from './header';
import { HELP } from './help';
import { Layout, pickScreen, place, ScreenSpec } from './layout';
import { Model, View } from './model';
import { Overlay } from './overlay';
import { Panel, UiState } from './panel';
import { makePanel } from './panels';
import { probeDetails } from './probes';

/**
 * blessed 0.1.81 cannot parse ncurses 6's entries for screen-256color and
 * tmux-256color and falls back to 8-colour xterm (grey becomes black); those
 * terminals understand xterm-256color's sequences, so describe them as that.
 */
function terminalName(term = process.env.TERM ?? ''): string | undefined {
  return /^(screen|tmux)[.-].*256color/.test(term) ? 'xterm-256color' : undefined;
}

export interface DashboardOptions {
  layout: Layout;
  intervalMs: number;
  leakAgeNs: number;
}

/**
 * iommutop: the screen, the panels of the layout, the keys. Events are counted
 * as they arrive; the screen is drawn on a timer (blessed writes only what
 * changed), and at once after a key. `run` resolves when the user quits and
 * rejects on an error; the terminal is restored either way.
 */
export class Dashboard {
  private readonly model: Model;
  private readonly screen: blessed.Widgets.Screen;
  private readonly header: HeaderBar;
  private readonly footer: FooterBar;
  private readonly body: blessed.Widgets.BoxElement;
  private readonly overlay: Overlay;
  private readonly cpu = new CpuMeter();
  private readonly ui: UiState = { filter: '' };
  private panels: Panel[] = [];
  private current?: ScreenSpec;
  private focus = 0;
  private paused = false;
  private ended = false;
  /** The filter being typed, while `/` is open. */
  private editing?: string;
  private view?: View;
  private timer?: NodeJS.Timeout;
  private done?: (err?: unknown) => void;

  constructor(
    private readonly src: EventSource,
    private readonly opts: DashboardOptions,
  ) {
    this.model = new Model(src, opts.leakAgeNs);
    this.screen = blessed.screen({ terminal: terminalName(), smartCSR: true, fullUnicode: true, title: 'iommutop', warnings: false, autoPadding: true });
    this.header = new HeaderBar(this.screen);
    this.footer = new FooterBar(this.screen);
    this.body = blessed.box({ parent: this.screen, top: 1, left: 0, width: '100%', height: '100%-2' });
    this.overlay = new Overlay(this.screen);
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const signal = (): void => this.finish();
      const crash = (err: unknown): void => this.finish(err);
      process.on('SIGINT', signal);
      process.on('SIGTERM', signal);
      process.on('uncaughtException', crash);
      this.done = (err) => {
        process.off('SIGINT', signal);
        process.off('SIGTERM', signal);
        process.off('uncaughtException', crash);
        if (err) reject(err);
        else resolve();
      };
      this.guard(() => {
        this.layout();
        this.screen.on('resize', () => this.guard(() => this.layout()));
        this.screen.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg) => this.guard(() => this.onKey(ch, key)));
        this.model.start(() => {
          this.ended = true;
          this.guard(() => this.tick());
        });
        this.tick();
        this.timer = setInterval(() => this.guard(() => this.tick()), this.opts.intervalMs);
      });
    });
  }

  /** Runs `fn`; an exception ends the dashboard (terminal restored) and fails `run`. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.finish(err);
    }
  }

  private finish(err?: unknown): void {
    const done = this.done;
    if (!done) return;
    this.done = undefined;
    clearInterval(this.timer);
    let stopErr: unknown;
    try {
      this.src.stop();
    } catch (e) {
      stopErr = e;
    }
    this.screen.destroy();
    done(err ?? stopErr);
  }

  /** Picks the screen of the layout that fits and places its panels. */
  private layout(): void {
    const w = this.screen.width as number;
    const h = this.screen.height as number;
    const spec = pickScreen(this.opts.layout, w, h);
    if (spec !== this.current) {
      for (const p of this.panels) p.destroy();
      this.current = spec;
      this.panels = spec.widgets.map((ws) => makePanel(this.body, ws));
      this.focus = Math.max(0, this.panels.findIndex((p) => p.focusable));
      this.panels.forEach((p, i) => p.setFocused(i === this.focus));
    }
    for (const p of this.panels) p.place(place(p.spec, spec.grid, w, h - 2));
    this.paint();
  }

  /** A new view (unless paused), then paint. */
  private tick(): void {
    this.src.flush?.(); // what the kernel summed (aggregated mode), read each redraw
    if (!this.paused || !this.view) this.view = this.model.view({ paused: this.paused, ended: this.ended, cpuPct: this.cpu.read() });
    this.paint();
  }

  private paint(): void {
    const v = this.view;
    if (!v) return;
    this.header.update({ ...v, paused: this.paused, ended: this.ended });
    if (this.editing !== undefined) this.footer.prompt(this.editing);
    else this.footer.keys(this.ui.filter);
    // Devices first: the latency panel follows their selection.
    const order = [...this.panels].sort((a, b) => Number(b.spec.kind === 'devices') - Number(a.spec.kind === 'devices'));
    for (const p of order) p.update(v, this.ui);
    this.screen.render();
  }

  private get focused(): Panel | undefined {
    return this.panels[this.focus];
  }

  private moveFocus(step: number): void {
    const n = this.panels.length;
    for (let i = 1; i <= n; i++) {
      const j = (this.focus + step * i + n * n) % n;
      if (this.panels[j].focusable) {
        this.focus = j;
        break;
      }
    }
    this.panels.forEach((p, i) => p.setFocused(i === this.focus));
  }

  private onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg): void {
    const name = key.full;
    if (name === 'C-c') return this.finish();
    if (name === 'return') return; // blessed sends "enter" as well
    if (this.editing !== undefined) return this.onFilterKey(ch, name);
    if (this.overlay.open) {
      this.overlay.key(name);
      return this.paint();
    }
    switch (name) {
      case 'q':
        return this.finish();
      case 'p':
        this.paused = !this.paused;
        // A replay waits; a live source keeps counting (the kernel's ring must not fill).
        if (this.src.kind === 'replay') {
          if (this.paused) this.src.pause();
          else this.src.resume();
        }
        return this.tick();
      case 's':
      case 'S-s': {
        const target = this.focused?.sortable ? this.focused : this.panels.find((p) => p.sortable);
        target?.sort(name === 'S-s');
        return this.paint();
      }
      case '/':
        this.editing = this.ui.filter;
        return this.paint();
      case 'tab':
      case 'S-tab':
        this.moveFocus(name === 'tab' ? 1 : -1);
        return this.paint();
      case 'enter': {
        const d = this.focused?.details();
        if (d) this.overlay.show(d);
        return this.paint();
      }
      case 'r':
        this.model.reset();
        this.view = undefined;
        return this.tick();
      case 'u':
        this.overlay.show(probeDetails(this.src.probes, (this.screen.width as number) - 8));
        return this.paint();
      case '?':
        this.overlay.show(HELP);
        return this.paint();
      default:
        if (this.focused?.key(name, this.ui)) this.paint();
    }
  }

  private onFilterKey(ch: string | undefined, name: string): void {
    if (name === 'enter') {
      this.ui.filter = this.editing!.trim();
      this.editing = undefined;
    } else if (name === 'escape') {
      this.ui.filter = '';
      this.editing = undefined;
    } else if (name === 'backspace') this.editing = this.editing!.slice(0, -1);
    else if (ch && ch.length === 1 && ch >= ' ' && ch !== '\x7f') this.editing += ch;
    this.ui.filter = this.editing ?? this.ui.filter;
    this.paint();
  }
}
