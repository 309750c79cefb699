import { AttachEvent } from '../events/types';
import { ProbeName } from '../generated/bpf';
import type { DevicePath, HostDevice } from '../probes/iommu-groups';
import { domainTypeName, isKernelDomain, type DomainTypeName } from './domain-type';
import { SizeClasses, SizeHistogram } from './map-sizes';
import { probesFor, roleOf, ROLES } from './truth';

export interface DeviceRow {
  device: string;
  group: number;
  driver: string;
  /** How it is held: VFIO group + container, VFIO device cdev on iommufd, a kernel driver; null when unknown. */
  path: DevicePath | null;
  /** The IOMMU driver translating for it (intel-iommu, amd-iommu, ...), null when unknown. */
  iommu_driver: string | null;
  /** Its current domain's type (DMA, DMA-FQ, identity, blocked, unmanaged), null until one is seen. */
  domain_type: DomainTypeName | null;
  /** Domain (hex) for rows of DMA into a domain no attach was seen for. */
  domain?: string;
  attaches: number;
  detaches: number;
  attach_errors: number;
  map_calls: number;
  map_bytes: number;
  unmap_calls: number;
  unmap_bytes: number;
  /** Share of map_bytes mapped in calls of 2 MiB or more (huge pages); null when nothing was mapped. */
  huge_map_share: number | null;
}

/** IOMMU_DOMAIN_BLOCKED: ownership moves park devices there. */
const DOMAIN_BLOCKED = 0;

/** The attach APIs and the VFIO path that calls each: type1 attaches groups, iommufd uses handles. */
const PATH_OF_ATTACH: Partial<Record<string, DevicePath>> = {
  'iommu.attach_group': 'vfio-group',
  'iommu.attach_handle': 'vfio-cdev',
  'iommu.replace_group': 'vfio-cdev',
};

const DETACH: ProbeName[] = probesFor('detach');
const DETACH_PROBES = new Set<string>(DETACH);

/** Where attaches are counted from: the ranks of truth.ts's 'attach' probes, best first. */
const SOURCES = ['api', 'per-device', 'tracepoint'] as const;
export type AttachSource = (typeof SOURCES)[number];

export function attachSource(attached: ReadonlySet<string>): AttachSource {
  const ranks = [...probesFor('attach'), ...DETACH].filter((p) => attached.has(p)).map((p) => ROLES[p]!.rank as number);
  return SOURCES[Math.min(SOURCES.length - 1, ...ranks)];
}

export function isDefaultDomainType(type: number): boolean {
  return isKernelDomain(type) || type === DOMAIN_BLOCKED;
}

/**
 * Devices, their groups and domains, and the DMA that went to each. Domains are
 * learned from attach events; DMA into a domain never seen attached is kept
 * under device "unknown" with the domain, never dropped.
 */
export class DeviceTable {
  readonly rows = new Map<string, DeviceRow>();
  /** domain -> the device whose traffic it carries (the first attached). */
  private readonly domains = new Map<bigint, string>();
  /** group id -> devices seen in it. */
  readonly groupDevices = new Map<number, Set<string>>();

  /** What sysfs and /proc said of each device when the source began. */
  private readonly host = new Map<string, HostDevice>();

  constructor(
    private readonly source: AttachSource,
    hostDevices: HostDevice[] = [],
  ) {
    for (const d of hostDevices) this.host.set(d.device, d);
  }

  row(device: string, group = -1, driver = ''): DeviceRow {
    let r = this.rows.get(device);
    if (!r) {
      const h = this.host.get(device);
      r = {
        device,
        group: group >= 0 ? group : (h?.group ?? -1),
        driver: driver || (h?.driver ?? ''),
        path: h?.path ?? null,
        iommu_driver: h?.iommu_driver ?? null,
        domain_type: null,
        attaches: 0,
        detaches: 0,
        attach_errors: 0,
        map_calls: 0,
        map_bytes: 0,
        unmap_calls: 0,
        unmap_bytes: 0,
        huge_map_share: null,
      };
      this.rows.set(device, r);
    }
    if (r.group < 0 && group >= 0) r.group = group;
    if (driver) r.driver = driver;
    if (group >= 0 && device !== 'unknown') {
      let s = this.groupDevices.get(group);
      if (!s) this.groupDevices.set(group, (s = new Set()));
      s.add(device);
    }
    return r;
  }

  private learn(domain: bigint, device: string): void {
    this.domains.set(domain, device);
    // DMA seen before the attach stays where it was counted; what follows goes to the device.
    this.dmaRows.delete(domain);
    this.lastRow = undefined;
  }

  /** Devices an event names, or the ones known in its group for group-wide calls. */
  private targets(e: AttachEvent): DeviceRow[] {
    if (e.dev_name) return [this.row(e.dev_name, e.group_id, e.driver)];
    return [...(this.groupDevices.get(e.group_id) ?? [])].map((d) => this.row(d, e.group_id));
  }

  attach(e: AttachEvent): void {
    const perDevice = e.probe === 'iommu.attach_dev';
    const detach = DETACH_PROBES.has(e.probe);
    const rows = this.targets(e);
    if (perDevice && e.ret === 0 && e.domain !== 0n && !isDefaultDomainType(e.domain_type)) {
      for (const r of rows) if (!this.domains.has(e.domain)) this.learn(e.domain, r.device);
    }
    if (!perDevice && e.ret === 0 && e.domain !== 0n && !detach && rows.length) {
      if (!this.domains.has(e.domain)) this.learn(e.domain, rows[0].device);
    }
    if (e.ret === 0 && !detach && (e.domain !== 0n || e.domain_type === DOMAIN_BLOCKED)) {
      for (const r of rows) this.place(r, e);
    }
    // Count each logical attach once, from the best source watched; attach records
    // of probes that count no attach (truth.ts) only teach domains.
    const counts = roleOf(e.probe)?.counts;
    if (counts !== 'attach' && counts !== 'detach') return;
    if (perDevice ? this.source !== 'per-device' : this.source !== 'api') return;
    for (const r of rows) {
      if (e.ret !== 0) r.attach_errors++;
      else if (detach || (perDevice && isDefaultDomainType(e.domain_type))) r.detaches++;
      else r.attaches++;
    }
  }

  /**
   * The device's current domain type and how it is held, from a successful attach or
   * the snapshot at start: a kernel driver on its DMA-API or identity domain is
   * `kernel`; the attach API a VFIO device came through names its path.
   */
  private place(r: DeviceRow, e: AttachEvent): void {
    r.domain_type = domainTypeName(e.domain_type);
    const viaApi = PATH_OF_ATTACH[e.probe];
    if (viaApi && r.driver === 'vfio-pci') r.path = viaApi;
    else if (isKernelDomain(e.domain_type) && r.driver && r.driver !== 'vfio-pci') r.path = 'kernel';
  }

  /** Attach seen only through the attach_device_to_domain tracepoint (no domain). */
  attachSeen(device: string, group: number): void {
    if (this.source === 'tracepoint') this.row(device, group).attaches++;
  }

  /** domain -> the row its DMA is counted in (the hot path: one lookup per event). */
  private readonly dmaRows = new Map<bigint, DeviceRow>();

  /** The last domain DMA went to and its row: VFIO maps in long runs into one domain. */
  private lastDomain = -1n;
  private lastRow: DeviceRow | undefined;

  private dmaRow(domain: bigint): DeviceRow {
    if (domain === this.lastDomain && this.lastRow) return this.lastRow;
    this.lastDomain = domain;
    let r = this.dmaRows.get(domain);
    if (r) return (this.lastRow = r);
    const dev = this.domains.get(domain);
    if (dev) r = this.row(dev);
    else {
      r = this.row(`unknown:${domain.toString(16)}`);
      r.domain = '0x' + domain.toString(16);
    }
    this.dmaRows.set(domain, r);
    return (this.lastRow = r);
  }

  /** Per row key: its map calls by size class (report `map_sizes`). */
  private readonly sizes = new Map<string, SizeHistogram>();

  /**
   * Counts `calls` maps or unmaps of `bytes` in all into `domain`'s row, and returns
   * the row; maps also by their size class (`klass` bytes, the same for all the calls).
   */
  dmaCalls(domain: bigint, unmap: boolean, calls: number, bytes: number, klass: number): DeviceRow {
    const r = this.dmaRow(domain);
    if (unmap) {
      r.unmap_calls += calls;
      r.unmap_bytes += bytes;
    } else {
      r.map_calls += calls;
      r.map_bytes += bytes;
      let h = this.sizes.get(r.device);
      if (!h) this.sizes.set(r.device, (h = new SizeHistogram()));
      h.addCalls(klass, calls, bytes);
    }
    return r;
  }

  /** Map calls by size class per device; DMA into unknown domains under one "unknown". */
  mapSizes(): Record<string, SizeClasses> {
    const merged = new Map<string, SizeHistogram>();
    for (const [key, h] of this.sizes) {
      const device = key.startsWith('unknown:') ? 'unknown' : key;
      const m = merged.get(device);
      merged.set(device, m ? m.merge(h) : h);
    }
    return Object.fromEntries([...merged].sort((a, b) => a[0].localeCompare(b[0])).map(([d, h]) => [d, h.toJSON()]));
  }

  /** The row key DMA into `domain` is counted under (see dma()). */
  keyFor(domain: bigint): string {
    return this.domains.get(domain) ?? `unknown:${domain.toString(16)}`;
  }

  list(): DeviceRow[] {
    for (const r of this.rows.values()) r.huge_map_share = this.sizes.get(r.device)?.hugeShare ?? null;
    return [...this.rows.values()].map((r) => (r.device.startsWith('unknown:') ? { ...r, device: 'unknown' } : r));
  }
}
