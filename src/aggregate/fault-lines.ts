/*
 * The IOMMU drivers' fault lines, as the kernel log holds them (the text the
 * iommu.fault_log probe keeps, bpf/faults.bpf.c). Intel VT-d prints each fault
 * record it reads (drivers/iommu/intel/dmar.c, 6.1 to 6.12):
 *
 *   DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x7f000 [fault reason 0x06] PTE Read access is not set
 *   DMAR: [DMA Write PASID 0x2] Request device [00:03.0] fault addr 0x7f000 [fault reason 0x05] PTE Write access is not set
 *   DMAR: [INTR-REMAP] Request device [00:03.0] fault index 0x4 [fault reason 0x25] Blocked a compatibility format interrupt request
 *
 * and its rate limiter, when a quiet interval follows dropped lines:
 *
 *   dmar_fault: 7 callbacks suppressed
 */

export interface FaultLine {
  kind: 'fault';
  iommu_driver: string;
  /** PCI address, segment 0: VT-d prints bus:dev.fn of the requester id only. */
  device: string;
  /** The faulting address (page-aligned as the fault record holds it); for interrupt faults the remapping index. */
  iova: bigint;
  write: boolean;
  /** The driver's reason code as printed ("0x06"); `interrupt` tells an interrupt-remapping fault. */
  reason: string;
  interrupt: boolean;
}

export interface SuppressedLine {
  kind: 'suppressed';
  iommu_driver: string;
  /** Calls of the limiter it refused: fault lines and their "handling fault status" headers alike. */
  count: number;
}

const DMAR_DMA = /^DMAR: \[DMA (Read|Write)(?: NO_PASID| PASID 0x[0-9a-f]+)?\] Request device \[([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])\] fault addr 0x([0-9a-f]+) \[fault reason 0x([0-9a-f]{2})\]/;
const DMAR_INTR = /^DMAR: \[INTR-REMAP\] Request device \[([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])\] fault index 0x([0-9a-f]+) \[fault reason 0x([0-9a-f]{2})\]/;
const SUPPRESSED = /^dmar_fault: (\d+) callbacks suppressed/;

function bdf(bus: string, dev: string, fn: string): string {
  return `0000:${bus}:${dev}.${fn}`;
}

/** The fault or the suppressed count a line tells, or null for any other line. */
export function parseFaultLine(text: string): FaultLine | SuppressedLine | null {
  let m = DMAR_DMA.exec(text);
  if (m) {
    return { kind: 'fault', iommu_driver: 'intel-iommu', device: bdf(m[2], m[3], m[4]), iova: BigInt('0x' + m[5]), write: m[1] === 'Write', reason: '0x' + m[6], interrupt: false };
  }
  m = DMAR_INTR.exec(text);
  if (m) {
    return { kind: 'fault', iommu_driver: 'intel-iommu', device: bdf(m[1], m[2], m[3]), iova: BigInt('0x' + m[4]), write: true, reason: '0x' + m[5], interrupt: true };
  }
  m = SUPPRESSED.exec(text);
  if (m) return { kind: 'suppressed', iommu_driver: 'intel-iommu', count: Number(m[1]) };
  return null;
}
