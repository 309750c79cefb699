import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Decoder } from '../events/decode';
import type { LiveKernel } from '../probes/kernel-live';
import type { HostDevice } from '../probes/iommu-groups';
import type { PlannedProbe } from '../probes/planner';
import { captureKinds } from './kinds';
import { CaptureHeader, CaptureProbe, Snapshot } from './types';

function readOr(path: string, fallback: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/** SHA-256 of the BTF the programs were relocated against ('' when there is none, or it is not a small file). */
function btfFingerprint(path = VMLINUX_BTF): string {
  try {
    return createHash('sha256').update(fs.readFileSync(path)).digest('hex');
  } catch {
    return '';
  }
}

/**
 * The same for the kernel's own BTF, computed in a turn of the event loop after
 * the caller's: started before the probes load, it runs while the kernel verifies
 * them and the main thread would sit idle (10-15 ms; read in chunks on the thread
 * pool instead, each chunk waited for the busy main thread and it took up to
 * 400 ms). Pass it to liveHeader().
 */
export function kernelBtfFingerprint(): Promise<string> {
  return new Promise((resolve) => setImmediate(() => resolve(btfFingerprint())));
}

export function probeRecord(p: PlannedProbe): CaptureProbe {
  return {
    name: p.name,
    target: p.target ?? '',
    mode: p.mode ?? '',
    status: p.status,
    reason: p.reason ?? '',
    module: p.module ?? '',
    lacks: p.lacks,
    reasonCode: p.reasonCode ?? '',
  };
}

export function toolVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../../package.json') as { version: string }).version;
}

/**
 * What the header takes from a live source (source/live.ts's LiveSource), said
 * here so that capture/ does not import source/, which reads captures.
 */
export interface RecordedSource {
  readonly kernel: LiveKernel;
  readonly planned: PlannedProbe[];
  readonly decoder: Decoder;
  readonly clockBaseNs: bigint;
  readonly wallBaseUnixNs: number;
  readonly hostDevices: HostDevice[];
}

/**
 * The header of a capture of this host's kernel through `src`; `kernelBtf` is
 * kernelBtfFingerprint()'s answer when the caller started it early (used unless
 * the programs were relocated against a BTF file of their own).
 */
export function liveHeader(src: RecordedSource, leakAgeNs: number, argv: string[], kernelBtf?: string): CaptureHeader {
  const facts = src.kernel.facts();
  return {
    toolVersion: toolVersion(),
    host: os.hostname(),
    kernelRelease: facts.release,
    bootId: readOr('/proc/sys/kernel/random/boot_id', ''),
    btfFingerprint: kernelBtf !== undefined && !src.kernel.btfCustomPath ? kernelBtf : btfFingerprint(src.kernel.btfCustomPath),
    btf: facts.btf,
    probes: src.planned.map(probeRecord),
    clockBaseNs: src.clockBaseNs.toString(),
    wallBaseUnixNs: src.wallBaseUnixNs,
    kinds: captureKinds(src.decoder),
    leakAgeNs,
    lockdown: facts.lockdown ?? '',
    argv,
    devices: src.hostDevices.map((d) => ({ ...d, iommuDriver: d.iommu_driver ?? '', path: d.path ?? '' })),
  };
}

/**
 * Captures before 0.5.0 marked a probe detached during the recording (its module
 * was unloaded) with the snapshot counter `probe_detached:NAME`, whose value is when
 * it was noticed (ns from the clock base). Snapshots now carry the probes themselves.
 */
export const DETACHED_COUNTER = 'probe_detached:';

/**
 * The header's probes as they ended. The header was written before the recording
 * began; a probe whose module loaded later attached then, and one whose module was
 * unloaded detached: the snapshots written at those moments say so, in order.
 */
export function probesAtEnd(h: CaptureHeader, snapshots: Snapshot[]): CaptureProbe[] {
  const now = new Map(h.probes.map((p) => [p.name, p]));
  for (const s of snapshots) {
    for (const c of s.counters) {
      const p = c.name.startsWith(DETACHED_COUNTER) ? now.get(c.name.slice(DETACHED_COUNTER.length)) : undefined;
      if (!p || p.status !== 'attached') continue;
      const where = p.module ? `module ${p.module}` : 'its target';
      now.set(p.name, { ...p, status: 'detached', reason: `${where} was unloaded ${(c.value / 1e9).toFixed(1)} s into the capture`, reasonCode: 'detached' });
    }
    for (const p of s.probes ?? []) now.set(p.name, p);
  }
  return [...now.values()];
}

/** The probes that ran at any time of the recording: attached at the start or later (their events are authoritative). */
export function probesThatRan(h: CaptureHeader, snapshots: Snapshot[]): Set<string> {
  const ran = new Set(h.probes.filter((p) => p.status === 'attached').map((p) => p.name));
  for (const s of snapshots) for (const p of s.probes ?? []) if (p.status === 'attached') ran.add(p.name);
  return ran;
}
