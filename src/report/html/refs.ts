/**
 * The report lists every outstanding reference with its stack; a host with a storm of
 * them (the ledger keeps up to 262,144) would make a page of hundreds of MB. The page
 * needs each distinct (stack, process, holder) once, with how many references share it.
 */
import type { Report } from '../../aggregate/report';
import type { ListedRef } from '../../aggregate/groups';

export interface RefSite {
  taker: string;
  stack: string[];
  pid: number;
  comm: string;
  holder?: string;
  /** References of this site. */
  count: number;
  /** The oldest one's age. */
  age_ns: number;
}

/** Sites kept per list; the rest are summed into one site named "(other stacks)". */
export const MAX_SITES = 500;

export function refSites(refs: ListedRef[]): RefSite[] {
  const sites = new Map<string, RefSite>();
  for (const r of refs) {
    // JSON of an array of strings: no separator a symbol could forge.
    const key = JSON.stringify([r.holder ?? '', r.pid, r.comm, r.taker, ...r.stack]);
    const s = sites.get(key);
    if (s) {
      s.count++;
      s.age_ns = Math.max(s.age_ns, r.age_ns);
    } else sites.set(key, { taker: r.taker, stack: r.stack, pid: r.pid, comm: r.comm, ...(r.holder !== undefined ? { holder: r.holder } : {}), count: 1, age_ns: r.age_ns });
  }
  const list = [...sites.values()].sort((a, b) => b.count - a.count);
  if (list.length <= MAX_SITES) return list;
  const rest = list.slice(MAX_SITES - 1);
  const other: RefSite = { taker: '(other stacks)', stack: [], pid: -1, comm: '(others)', count: 0, age_ns: 0 };
  for (const s of rest) {
    other.count += s.count;
    other.age_ns = Math.max(other.age_ns, s.age_ns);
  }
  return [...list.slice(0, MAX_SITES - 1), other];
}

export type PageGroup = Omit<Report['groups'][number], 'held' | 'leaked'> & { held: RefSite[]; leaked: RefSite[] };
export type PageReport = Omit<Report, 'groups'> & { groups: PageGroup[] };

/** The report as the page embeds it: every figure, the listed references by site. */
export function pageReport(report: Report): PageReport {
  return { ...report, groups: report.groups.map((g) => ({ ...g, held: refSites(g.held), leaked: refSites(g.leaked) })) };
}
