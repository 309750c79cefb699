import { errnoName } from '../aggregate/errno';
import { describeMapRequest } from '../aggregate/map-failures';
import { parseFaultLine } from '../aggregate/fault-lines';
import { roleOf } from '../aggregate/truth';
import { AttachEvent, FaultLogEvent, IommuTpEvent, RawEvent } from '../events/types';

export type Level = 'info' | 'warn' | 'error';

export interface LogEntry {
  ts_ns: number;
  level: Level;
  text: string;
}

/** A process's VM name, where the source knows one. */
export type VmOf = (pid: number) => string | null | undefined;

function who(e: RawEvent, vmOf?: VmOf): string {
  return vmOf?.(e.pid) || `${e.comm}[${e.pid}]`;
}

function attachLine(e: AttachEvent): LogEntry {
  const detach = roleOf(e.probe)?.counts === 'detach';
  const what = detach ? 'detach' : 'attach';
  const target = e.dev_name || `group ${e.group_id}`;
  if (e.ret !== 0) return { ts_ns: e.ts_ns, level: 'error', text: `${who(e)} ${what} ${target} failed ${errnoName(e.ret)}` };
  const domain = e.domain ? ` domain 0x${e.domain.toString(16)}` : '';
  return { ts_ns: e.ts_ns, level: 'info', text: `${who(e)} ${what} ${target}${e.driver ? ` (${e.driver})` : ''}${domain}` };
}

function tpLine(e: IommuTpEvent, attachWatched: boolean): LogEntry | undefined {
  switch (e.probe) {
    case 'iommu.io_page_fault':
      return { ts_ns: e.ts_ns, level: 'warn', text: `IO page fault ${e.dev_name} ${e.flags & 1 ? 'write' : 'read'} iova 0x${e.iova.toString(16)} flags 0x${e.flags.toString(16)}` };
    case 'iommu.tp_add':
      return { ts_ns: e.ts_ns, level: 'info', text: `${e.dev_name} added to group ${e.group_id}` };
    case 'iommu.tp_remove':
      return { ts_ns: e.ts_ns, level: 'info', text: `${e.dev_name} removed from group ${e.group_id}` };
    case 'iommu.tp_attach':
      // The attach probes say more when they run; the tracepoint is the fallback.
      return attachWatched ? undefined : { ts_ns: e.ts_ns, level: 'info', text: `attach ${e.dev_name} group ${e.group_id}` };
    default:
      return undefined;
  }
}

/** A fault the IOMMU driver logged (VT-d), or the count of reports its rate limiter dropped. */
function faultLogLine(e: FaultLogEvent): LogEntry | undefined {
  const f = parseFaultLine(e.text);
  if (!f) return undefined;
  if (f.kind === 'suppressed') return { ts_ns: e.ts_ns, level: 'warn', text: `${f.iommu_driver}: the kernel dropped ${f.count} fault reports (rate limit)` };
  const what = f.interrupt ? `interrupt index 0x${f.iova.toString(16)}` : `${f.write ? 'write' : 'read'} iova 0x${f.iova.toString(16)}`;
  return { ts_ns: e.ts_ns, level: 'warn', text: `IO page fault ${f.device} ${what} reason ${f.reason} (${f.iommu_driver})` };
}

function fail(e: RawEvent, what: string, ret: number, extra = ''): LogEntry {
  return { ts_ns: e.ts_ns, level: 'error', text: `${who(e)} ${what} failed ${errnoName(ret)}${extra}` };
}

/**
 * The line an event deserves in the dashboard's log, if any: attaches and
 * detaches, failures of any call (refused maps in words, by VM name where known),
 * IO page faults. Map, pin and reference traffic is too frequent to list; the
 * panels count it. Called for every event, so the common case (a call that
 * succeeded) allocates nothing.
 */
export function describeEvent(e: RawEvent, attachWatched: boolean, vmOf?: VmOf): LogEntry | undefined {
  switch (e.kind) {
    case 'attach':
      return attachLine(e);
    case 'iommu_tp':
      return tpLine(e, attachWatched);
    case 'fault_log':
      return faultLogLine(e);
    case 'dma':
      return e.ret < 0 ? fail(e, e.probe, e.ret, ` (${e.size} bytes at iova 0x${e.iova.toString(16)})`) : undefined;
    case 'gup':
      return e.ret < 0 ? fail(e, e.probe, e.ret, ` (${e.nr_pages} pages)`) : undefined;
    case 'pin':
      return e.pinned < 0 ? fail(e, e.probe, e.pinned, ` (${e.nr_pages} pages)`) : undefined;
    case 'map_request': {
      const text = e.ret < 0 ? describeMapRequest(e, who(e, vmOf)) : undefined;
      return text ? { ts_ns: e.ts_ns, level: 'error', text } : undefined;
    }
    case 'dirty':
      return e.probe === 'dirty.walk' && e.ret < 0 ? fail(e, 'dirty bitmap walk', e.ret) : undefined;
    default:
      return undefined;
  }
}

/** The newest `capacity` entries. */
export class EventLog {
  readonly entries: LogEntry[] = [];

  constructor(readonly capacity = 500) {}

  push(entry: LogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }
}
