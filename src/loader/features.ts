import * as fs from 'node:fs';
import * as path from 'node:path';
import { MapType } from './map';
import { native, ProbeResult } from './native';
import type { Trampoline } from './object';

export type { ProbeResult };

/** Can this kernel load and attach an fentry/fexit program at `symbol`? */
export function canTrampoline(symbol: string, kind: Trampoline, module = ''): ProbeResult {
  return native().probeTrampoline(symbol, module, kind);
}

/** Lets go of the kernel BTF canTrampoline keeps between questions (6 MB), once planning is done. */
export function releaseTrampolineBtf(): void {
  native().releaseBtf();
}

/** Can a kprobe be placed at `symbol`? (Needs the perf kprobe PMU, i.e. CONFIG_KPROBES.) */
export function canKprobe(symbol: string): ProbeResult {
  return native().probeKprobe(symbol);
}

/** Does tracepoint `category:event` exist under the tracefs mount? */
export function tracepointExists(tracefs: string, target: string): boolean {
  const [category, event] = target.split(':');
  return fs.existsSync(path.join(tracefs, 'events', category, event ?? '', 'id'));
}

export function hasRingBuffer(): boolean {
  return native().probeMapType(MapType.RINGBUF);
}

export function kprobesBuiltIn(): boolean {
  return fs.existsSync('/sys/bus/event_source/devices/kprobe/type');
}
