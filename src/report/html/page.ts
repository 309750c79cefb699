/**
 * One self-contained HTML page: uPlot (from node_modules, read when the page is
 * written), the page script and the data are inlined, and the page's own policy
 * forbids fetching anything, so it opens the same offline, attached to a ticket.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Report } from '../../aggregate/report';
import { drawGroups } from './client/groups';
import { drawHeader } from './client/header';
import { pageKit } from './client/kit';
import { drawLatency } from './client/latency';
import { pageMain, type PageParts } from './client/main';
import { drawShape } from './client/shape';
import { drawTables } from './client/tables';
import { drawTimeline } from './client/timeline-view';
import { pageReport } from './refs';
import { STYLE } from './style';
import type { TimelineData } from './timeline';

/** No network, no frames, no plugins: inline scripts and styles only, images from data: URLs. */
export const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

function uplotDist(file: string): string {
  return fs.readFileSync(path.join(path.dirname(require.resolve('uplot/package.json')), 'dist', file), 'utf8');
}

/** Text safe inside <script> or <style>: no closing tag, no HTML comment opener, no JS line terminators that JSON allows. */
function inlineSafe(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** JSON for a <script type="application/json">: every "<" escaped, so capture text can never close the element. */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page script: each part's source, then the call that draws the page with them. */
function pageScript(): string {
  const parts: PageParts = { pageKit, drawHeader, drawTimeline, drawLatency, drawShape, drawGroups, drawTables };
  const sources = Object.values(parts).map((f) => f.toString());
  return `${sources.join('\n')}\n${pageMain.toString()}\npageMain(JSON.parse(document.getElementById('data').textContent), uPlot, { ${Object.keys(parts).join(', ')} });`;
}

export function renderPage(report: Report, timeline: TimelineData, tool: string): string {
  const title = `iommutrace: ${report.capture.host} ${report.capture.started_at}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="iommutrace ${escapeHtml(tool)}">
<title>${escapeHtml(title)}</title>
<style>${inlineSafe(uplotDist('uPlot.min.css'))}</style>
<style>${inlineSafe(STYLE)}</style>
</head>
<body>
<header id="header"></header>
<nav><a href="#timeline">Timeline</a><a href="#latency">Latency</a><a href="#shape">Mapping shape</a><a href="#groups">Group references</a><a href="#tables">Tables</a></nav>
<main id="main"></main>
<footer>Written by iommutrace ${escapeHtml(tool)} (report --html).</footer>
<script type="application/json" id="data">${embedJson({ report: pageReport(report), timeline, tool })}</script>
<script>${inlineSafe(uplotDist('uPlot.iife.min.js'))}</script>
<script>"use strict";
${inlineSafe(pageScript())}
</script>
</body>
</html>
`;
}
