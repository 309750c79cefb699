import type { ProbeChange } from './source';

/** One line per change and reason: "vfio.pin, vfio.unpin attached: module vfio_iommu_type1 was loaded 3.1 s into the session". */
export function describeProbeChanges(changes: readonly ProbeChange[]): { change: ProbeChange['change']; atNs: number; text: string }[] {
  const byReason = new Map<string, ProbeChange[]>();
  for (const c of changes) {
    const k = `${c.change}\0${c.reason}`;
    byReason.set(k, [...(byReason.get(k) ?? []), c]);
  }
  return [...byReason.values()].map((list) => ({
    change: list[0].change,
    atNs: list[0].atNs,
    text: `${list.map((c) => c.probe).join(', ')} ${list[0].change}: ${list[0].reason}`,
  }));
}
