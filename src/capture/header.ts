import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { PlannedProbe } from '../probes/planner';
import { LiveSource } from '../source/live';
import { captureKinds } from './kinds';
import { CaptureHeader, CaptureProbe } from './types';

function readOr(path: string, fallback: string): string {
  try {
    return fs.readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function btfFingerprint(): string {
  try {
    return createHash('sha256').update(fs.readFileSync('/sys/kernel/btf/vmlinux')).digest('hex');
  } catch {
    return '';
  }
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
  };
}

export function toolVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../../../package.json') as { version: string }).version;
}

/** The header of a capture of this host's kernel through `src`. */
export function liveHeader(src: LiveSource, leakAgeNs: number, argv: string[]): CaptureHeader {
  const facts = src.kernel.facts();
  return {
    toolVersion: toolVersion(),
    host: os.hostname(),
    kernelRelease: facts.release,
    bootId: readOr('/proc/sys/kernel/random/boot_id', ''),
    btfFingerprint: btfFingerprint(),
    btf: facts.btf,
    probes: src.planned.map(probeRecord),
    clockBaseNs: src.clockBaseNs.toString(),
    wallBaseUnixNs: src.wallBaseUnixNs,
    kinds: captureKinds(src.decoder),
    leakAgeNs,
    lockdown: facts.lockdown ?? '',
    argv,
  };
}
