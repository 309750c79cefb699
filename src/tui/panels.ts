import * as blessed from 'blessed';
import { DevicesPanel } from './devices';
import { DirtyPanel } from './dirty';
import { GroupsPanel } from './groups';
import { GupPanel } from './gup';
import { LatencyPanel } from './latency';
import { LogPanel } from './log';
import { WidgetKind, WidgetSpec } from './layout';
import { Panel } from './panel';
import { ProcessesPanel } from './processes';
import { RatesPanel, SparklinesPanel } from './rates';

const MAKERS: Record<WidgetKind, new (parent: blessed.Widgets.Node, spec: WidgetSpec) => Panel> = {
  devices: DevicesPanel,
  latency: LatencyPanel,
  rates: RatesPanel,
  sparklines: SparklinesPanel,
  gup: GupPanel,
  groups: GroupsPanel,
  dirty: DirtyPanel,
  log: LogPanel,
  processes: ProcessesPanel,
};

/** The panel a layout entry asks for. */
export function makePanel(parent: blessed.Widgets.Node, spec: WidgetSpec): Panel {
  return new MAKERS[spec.kind](parent, spec);
}
