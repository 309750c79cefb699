/**
 * `report CAPTURE --html FILE`: the report and the timeline of one capture, written
 * as one page. The page goes to a temporary file beside FILE and is renamed over it
 * only when whole, so a failure never leaves a half page or touches what was there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildReport, type BuildOptions } from '../build';
import type { Report } from '../../aggregate/report';
import { toolVersion } from '../../capture/header';
import { renderPage } from './page';
import { reportWithTimeline } from './timeline';

export class HtmlTargetError extends Error {}

/** Refuses what would lose data: an existing FILE without force, the capture itself, a folder. */
export function checkTarget(capture: string, out: string, force: boolean): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(out);
  } catch {
    st = undefined;
  }
  if (!st) return;
  if (st.isDirectory()) throw new HtmlTargetError(`${out} is a directory`);
  const cap = fs.statSync(capture, { throwIfNoEntry: false });
  if (cap && cap.ino === st.ino && cap.dev === st.dev) throw new HtmlTargetError(`${out} is the capture itself; name another file`);
  if (!force) throw new HtmlTargetError(`${out} exists; use --force to overwrite it`);
}

/** Writes the page; returns the report it shows and the page's size in bytes. */
export function writeHtmlReport(capture: string, out: string, options: BuildOptions & { force?: boolean } = {}): { report: Report; bytes: number } {
  checkTarget(capture, out, options.force ?? false);
  const { report, timeline } = reportWithTimeline(capture, options);
  const page = renderPage(report, timeline, toolVersion());
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, page, { flag: 'wx', mode: 0o644 });
    // Checked again just before the rename: the file may have appeared meanwhile.
    checkTarget(capture, out, options.force ?? false);
    fs.renameSync(tmp, out);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return { report, bytes: Buffer.byteLength(page) };
}
