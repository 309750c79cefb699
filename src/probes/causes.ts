import type { PlannedProbe } from './planner';
import { ReasonCode } from './reasons';

/** Causes that hold for one symbol, not for the kernel: the symbol is listed with the probe. */
const NAMES_SYMBOL: ReadonlySet<ReasonCode> = new Set<ReasonCode>(['absent', 'args_mismatch', 'too_many_args']);

/** One cause and every probe one of whose candidates met it. */
export interface CauseGroup {
  code: ReasonCode;
  cause: string;
  /** The probes, each with the symbols the cause is about when the words name one. */
  probes: { name: string; targets: string[] }[];
}

/**
 * The unavailable probes by cause, the widest first: on a kernel without kprobes,
 * one line for the probes that lack them rather than the same words on each row.
 */
export function byCause(probes: PlannedProbe[]): CauseGroup[] {
  const groups = new Map<string, CauseGroup>();
  const add = (code: ReasonCode, cause: string, name: string, target: string | undefined): void => {
    const key = `${code}\0${cause}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { code, cause, probes: [] }));
    let p = g.probes.find((x) => x.name === name);
    if (!p) g.probes.push((p = { name, targets: [] }));
    if (target && !p.targets.includes(target)) p.targets.push(target);
  };
  for (const p of probes) {
    if (p.status === 'available' || p.status === 'attached') continue;
    if (p.tried.length === 0 && p.reasonCode && p.reason) add(p.reasonCode, p.reason, p.name, undefined);
    for (const t of p.tried) add(t.code, t.cause, p.name, NAMES_SYMBOL.has(t.code) ? t.target : undefined);
  }
  return [...groups.values()].sort((a, b) => b.probes.length - a.probes.length || a.code.localeCompare(b.code));
}
