import * as blessed from 'blessed';
import { esc } from './format';

const KEYS: [string, string][] = [
  ['q', 'quit'],
  ['p', 'pause'],
  ['s/S', 'sort'],
  ['/', 'filter'],
  ['tab', 'focus'],
  ['⏎', 'details'],
  ['r', 'reset'],
  ['u', 'probes'],
  ['?', 'help'],
];

/** The bottom line: the keys, or the filter being typed. */
export class FooterBar {
  readonly box: blessed.Widgets.BoxElement;

  constructor(parent: blessed.Widgets.Node) {
    this.box = blessed.box({ parent, bottom: 0, left: 0, width: '100%', height: 1, tags: true, wrap: false });
  }

  keys(filter: string): void {
    const hints = KEYS.map(([k, what]) => `{cyan-fg}{bold}${esc(k)}{/bold}{/cyan-fg} ${what}`).join('  ');
    this.box.setContent(` ${hints}${filter ? `   {yellow-fg}filter "${esc(filter)}" (/ then esc clears){/yellow-fg}` : ''}`);
  }

  prompt(text: string): void {
    this.box.setContent(` {yellow-fg}{bold}filter:{/bold}{/yellow-fg} ${esc(text)}█   {gray-fg}enter keeps it, esc clears it{/gray-fg}`);
  }
}
