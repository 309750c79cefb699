import * as blessed from 'blessed';
import { fit } from './format';
import { Rect, WidgetSpec } from './layout';
import { View } from './model';

/** What the panels share: the filter, the selected device, the probe the latency panel shows. */
export interface UiState {
  filter: string;
  selectedDevice?: string;
}

export interface Details {
  title: string;
  body: string;
}

/** A bordered box of the dashboard; subclasses draw one kind of widget into it. */
export abstract class Panel {
  readonly box: blessed.Widgets.BoxElement;
  /** Takes part in tab focus (and so receives keys). */
  readonly focusable: boolean = false;
  /** Reacts to s/S. */
  readonly sortable: boolean = false;
  private focused = false;

  constructor(
    parent: blessed.Widgets.Node,
    readonly spec: WidgetSpec,
    private readonly title: string,
  ) {
    this.box = blessed.box({
      parent,
      tags: true,
      // blessed miscounts tagged lines when word-wrapping; every line is cut to fit instead.
      wrap: false,
      border: { type: 'line' },
      padding: { left: 1, right: 1 },
      style: { border: { fg: '#5f6b7a' }, label: { fg: 'white' } },
    });
    this.setTitle('');
  }

  place(r: Rect): void {
    Object.assign(this.box, r);
  }

  /** Columns and rows inside the border and the padding. */
  get inner(): { width: number; height: number } {
    return { width: Math.max(0, (this.box.width as number) - 4), height: Math.max(0, (this.box.height as number) - 2) };
  }

  /** The label: the layout's label (or the kind's title) and what it currently shows. */
  protected setTitle(extra: string): void {
    const base = this.spec.label ?? this.title;
    const text = `${base}${extra ? ` · ${extra}` : ''}`;
    // A label wider than the top border would wrap into the panel's first row: cut, without its colours.
    const room = (this.box.width as number) - 8;
    const plain = text.replace(/\{[^{}]*\}/g, '');
    this.box.setLabel(` ${room > 0 && plain.length > room ? fit(plain, room) : text} `);
  }

  setFocused(f: boolean): void {
    this.focused = f;
    const color = f ? 'cyan' : '#5f6b7a';
    const style = this.box.style as { border: { fg: string }; label: { fg: string; bold?: boolean } };
    style.border.fg = color;
    style.label.fg = f ? 'cyan' : 'white';
    style.label.bold = f;
  }

  get isFocused(): boolean {
    return this.focused;
  }

  abstract update(view: View, ui: UiState): void;

  /** A key while focused; true when it was handled. */
  key(_name: string, _ui: UiState): boolean {
    return false;
  }

  /** s: sort by the next column; S: reverse the order. */
  sort(_reverse: boolean): void {}

  /** What enter shows for the selection, if anything. */
  details(): Details | undefined {
    return undefined;
  }

  /** Called when the layout swaps panels out. */
  destroy(): void {
    this.box.destroy();
  }
}
