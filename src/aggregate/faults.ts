import type { AttachEvent, FaultLogEvent, IommuTpEvent } from '../events/types';
import type { ProcessFacts } from '../process/facts';
import { isDefaultDomainType } from './devices';
import { parseFaultLine } from './fault-lines';
import { roleOf } from './truth';

/** One fault as `faults[].last` lists it. */
export interface FaultSample {
  iova: string;
  write: boolean;
  reason: string;
  ts_ns: number;
}

/** `faults[]` of report --json (CLI.md): IO page faults per device. */
export interface FaultRow {
  device: string;
  iommu_driver: string | null;
  count: number;
  reads: number;
  writes: number;
  reasons: Record<string, number>;
  first_ns: number;
  last_ns: number;
  /** The newest faults, oldest first (at most MAX_LAST). */
  last: FaultSample[];
  /** The process that had attached the device's group (seen in the capture) when it last faulted: a VMM, a user-space driver. */
  pid: number | null;
  vm: string | null;
}

export const MAX_LAST = 16;
/** Devices kept apart; faults of more are summed under "(others)". */
const MAX_DEVICES = 4096;
/** report_iommu_fault()'s flags: IOMMU_FAULT_WRITE. */
const IOMMU_FAULT_WRITE = 0x1;
/** The reason of a fault the io_page_fault tracepoint reports: it carries none, AMD-Vi calls it for IO_PAGE_FAULT events. */
const TRACEPOINT_REASON = 'IO_PAGE_FAULT';

interface Row extends Omit<FaultRow, 'reasons' | 'vm'> {
  reasons: Map<string, number>;
}

/**
 * IO page faults per device, from whichever source the IOMMU driver feeds: the
 * iommu:io_page_fault tracepoint (AMD-Vi, SMMUv3) or the driver's own log lines
 * (VT-d, iommu.fault_log). The two never report the same fault: VT-d does not
 * call the tracepoint and the log probe keeps VT-d's lines only.
 */
export class FaultTable {
  private readonly rows = new Map<string, Row>();
  /** Fault reports the drivers' rate limiters dropped from the kernel log (`events.fault_reports_dropped`). */
  reportsDropped = 0;
  /** group -> the last process that attached it. */
  private readonly owners = new Map<number, number>();

  /**
   * @param deviceInfo the device's group and IOMMU driver where the device table knows them
   */
  constructor(private readonly deviceInfo: (device: string) => { group: number; iommu_driver: string | null } | undefined) {}

  add(e: IommuTpEvent | FaultLogEvent): void {
    if (e.kind === 'iommu_tp') {
      if (e.probe !== 'iommu.io_page_fault') return;
      this.fault(e.dev_name, null, e.iova, (e.flags & IOMMU_FAULT_WRITE) !== 0, TRACEPOINT_REASON, e.ts_ns);
      return;
    }
    const line = parseFaultLine(e.text);
    if (!line) return;
    if (line.kind === 'suppressed') this.reportsDropped += line.count;
    else this.fault(line.device, line.iommu_driver, line.iova, line.write, line.reason, e.ts_ns);
  }

  /** A successful attach: its process holds the group's devices until a detach. */
  attached(e: AttachEvent): void {
    if (e.ret !== 0 || e.group_id < 0) return;
    // Back to the kernel's default domain (after DMA ownership ends): nobody in user space holds it.
    if (roleOf(e.probe)?.counts === 'detach' || isDefaultDomainType(e.domain_type)) this.owners.delete(e.group_id);
    else if (e.pid > 0) this.owners.set(e.group_id, e.pid);
  }

  private fault(device: string, iommuDriver: string | null, iova: bigint, write: boolean, reason: string, ts: number): void {
    const key = this.rows.has(device) || this.rows.size < MAX_DEVICES ? device || 'unknown' : '(others)';
    let r = this.rows.get(key);
    if (!r) {
      r = { device: key, iommu_driver: iommuDriver, count: 0, reads: 0, writes: 0, reasons: new Map(), first_ns: ts, last_ns: ts, last: [], pid: null };
      this.rows.set(key, r);
    }
    // Who held the device when it faulted (its newest fault's).
    const info = this.deviceInfo(key);
    if (info && info.group >= 0) r.pid = this.owners.get(info.group) ?? null;
    r.count++;
    if (write) r.writes++;
    else r.reads++;
    r.reasons.set(reason, (r.reasons.get(reason) ?? 0) + 1);
    if (ts < r.first_ns) r.first_ns = ts;
    if (ts > r.last_ns) r.last_ns = ts;
    if (r.last.length === MAX_LAST) r.last.shift();
    r.last.push({ iova: '0x' + iova.toString(16), write, reason, ts_ns: ts });
  }

  /** Faults seen in all (the TUI's and the metric's total). */
  total(): number {
    let n = 0;
    for (const r of this.rows.values()) n += r.count;
    return n;
  }

  /** The rows, most faults first, with the owner's VM name where the recording host read one. */
  list(facts: (pid: number) => ProcessFacts | undefined = () => undefined): FaultRow[] {
    return [...this.rows.values()]
      .map((r) => ({
        ...r,
        iommu_driver: r.iommu_driver ?? this.deviceInfo(r.device)?.iommu_driver ?? null,
        reasons: Object.fromEntries(r.reasons),
        last: r.last.map((s) => ({ ...s })),
        vm: r.pid !== null ? (facts(r.pid)?.vm ?? null) : null,
      }))
      .sort((a, b) => b.count - a.count || a.device.localeCompare(b.device));
  }
}
