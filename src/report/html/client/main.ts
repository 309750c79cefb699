/**
 * The page script's entry: draws each section in order, then marks the page ready
 * (the browser test and the benchmark wait for it). Inlined into the page as source
 * with the functions it is handed (see kit.ts and page.ts).
 */
import type { PageReport } from '../refs';
import type { TimelineData } from '../timeline';
import type { drawGroups } from './groups';
import type { drawHeader } from './header';
import type { pageKit } from './kit';
import type { drawLatency } from './latency';
import type { drawShape } from './shape';
import type { drawTables } from './tables';
import type { drawTimeline } from './timeline-view';

// tsc builds this with Node's types only (see kit.ts): the browser's objects typed loosely.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

export interface PageParts {
  pageKit: typeof pageKit;
  drawHeader: typeof drawHeader;
  drawTimeline: typeof drawTimeline;
  drawLatency: typeof drawLatency;
  drawShape: typeof drawShape;
  drawGroups: typeof drawGroups;
  drawTables: typeof drawTables;
}

export function pageMain(data: { report: PageReport; timeline: TimelineData; tool: string }, uPlot: any, parts: PageParts): void {
  const { report, timeline } = data;
  const kit = parts.pageKit(report);
  parts.drawHeader(kit, report);
  parts.drawTimeline(kit, report, timeline, uPlot);
  parts.drawLatency(kit, report, timeline);
  parts.drawShape(kit, report);
  parts.drawGroups(kit, report);
  parts.drawTables(kit, report);
  // Milliseconds from navigation to a drawn page (the benchmark reads it).
  document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
  document.body.setAttribute('data-ready', 'true');
}
