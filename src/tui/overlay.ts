import * as blessed from 'blessed';
import { Details } from './panel';

/** A centred, scrollable box over the dashboard (help, probe reasons, details); esc closes it. */
export class Overlay {
  private box?: blessed.Widgets.BoxElement;

  constructor(private readonly screen: blessed.Widgets.Screen) {}

  get open(): boolean {
    return this.box !== undefined;
  }

  show(d: Details): void {
    this.close();
    const lines = d.body.split('\n');
    const sw = this.screen.width as number;
    const sh = this.screen.height as number;
    const width = Math.min(sw - 2, Math.max(40, ...lines.map((l) => l.length + 4), d.title.length + 8));
    const height = Math.min(sh - 2, lines.length + 3);
    this.box = blessed.box({
      parent: this.screen,
      top: 'center',
      left: 'center',
      width,
      height,
      border: { type: 'line' },
      label: ` ${d.title} `,
      content: d.body,
      tags: false,
      scrollable: true,
      alwaysScroll: true,
      padding: { left: 1, right: 1 },
      style: { border: { fg: 'cyan' }, label: { fg: 'cyan', bold: true }, bg: 'black' },
    });
    this.box.setFront();
  }

  /** Keys while open; every key is taken (the dashboard underneath does not react). */
  key(name: string): void {
    const b = this.box;
    if (!b) return;
    const page = Math.max(1, (b.height as number) - 3);
    if (name === 'escape' || name === 'q' || name === 'enter' || name === '?' || name === 'u') this.close();
    else if (name === 'down' || name === 'j') b.scroll(1);
    else if (name === 'up' || name === 'k') b.scroll(-1);
    else if (name === 'pagedown' || name === 'space') b.scroll(page);
    else if (name === 'pageup') b.scroll(-page);
  }

  close(): void {
    this.box?.destroy();
    this.box = undefined;
  }
}
