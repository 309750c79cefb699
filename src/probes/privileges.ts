import * as fs from 'node:fs';

/** Capability bits (linux/capability.h) the live commands need. */
const CAPS = { CAP_SYS_ADMIN: 21, CAP_SYS_RESOURCE: 24, CAP_PERFMON: 38, CAP_BPF: 39 } as const;
export type CapName = keyof typeof CAPS;

/** Effective capabilities of this process, from /proc/self/status. */
export function effectiveCaps(status = fs.readFileSync('/proc/self/status', 'utf8')): Set<CapName> {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  const bits = m ? BigInt('0x' + m[1]) : 0n;
  const out = new Set<CapName>();
  for (const [name, bit] of Object.entries(CAPS)) if (bits & (1n << BigInt(bit))) out.add(name as CapName);
  return out;
}

/**
 * What live tracing still lacks: nothing with CAP_SYS_ADMIN, else each of
 * CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE that is missing.
 */
export function missingCaps(caps = effectiveCaps()): CapName[] {
  if (caps.has('CAP_SYS_ADMIN')) return [];
  return (['CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_RESOURCE'] as CapName[]).filter((c) => !caps.has(c));
}

/** The one line the live commands print when they cannot trace. */
export function privilegeProblem(caps = effectiveCaps()): string | undefined {
  const missing = missingCaps(caps);
  if (missing.length === 0) return undefined;
  return `live tracing needs root or ${missing.join(' + ')} (missing: ${missing.join(', ')}); replay and report work without`;
}
