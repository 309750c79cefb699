import * as fs from 'node:fs';
import * as os from 'node:os';

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
 * BPF maps and programs are charged to the memory cgroup from Linux 5.11 on; before,
 * to RLIMIT_MEMLOCK, which only CAP_SYS_RESOURCE may raise.
 */
export function memlockCharged(release = os.release()): boolean {
  const [major, minor] = release.split(/[.-]/).map((x) => parseInt(x, 10));
  return major < 5 || (major === 5 && minor < 11);
}

/**
 * What live tracing still lacks: nothing with CAP_SYS_ADMIN, else each of CAP_BPF,
 * CAP_PERFMON and (before 5.11, see memlockCharged) CAP_SYS_RESOURCE that is missing.
 */
export function missingCaps(caps = effectiveCaps(), release = os.release()): CapName[] {
  if (caps.has('CAP_SYS_ADMIN')) return [];
  const needed: CapName[] = ['CAP_BPF', 'CAP_PERFMON', ...(memlockCharged(release) ? (['CAP_SYS_RESOURCE'] as CapName[]) : [])];
  return needed.filter((c) => !caps.has(c));
}

/** The one line the live commands print when they cannot trace. */
export function privilegeProblem(caps = effectiveCaps(), release = os.release()): string | undefined {
  const missing = missingCaps(caps, release);
  if (missing.length === 0) return undefined;
  const needed = ['CAP_BPF', 'CAP_PERFMON', ...(memlockCharged(release) ? ['CAP_SYS_RESOURCE'] : [])];
  return `live tracing needs root or ${needed.join(' + ')} (missing: ${missing.join(', ')}); replay and report work without`;
}
