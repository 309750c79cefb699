import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * How user space holds a device: VFIO's group + container (`/dev/vfio/N`), VFIO's
 * device cdev bound to iommufd (`/dev/vfio/devices/vfioN`), or a kernel driver's
 * DMA-API domain.
 */
export type DevicePath = 'vfio-group' | 'vfio-cdev' | 'kernel';

/** One device behind an IOMMU, as sysfs and /proc show it when tracing starts. */
export interface HostDevice {
  device: string;
  group: number;
  /** Bound driver, '' when none. */
  driver: string;
  /** intel-iommu, amd-iommu, arm-smmu-v3, ... from the IOMMU instance the device hangs off; null when unknown. */
  iommu_driver: string | null;
  /** Known from the open file descriptors: null for a vfio-pci device nobody holds. */
  path: DevicePath | null;
}

/** The IOMMU group numbers sysfs lists under `root`, ascending ([] without an IOMMU). */
function groupIds(root: string): number[] {
  try {
    return fs
      .readdirSync(path.join(root, 'kernel', 'iommu_groups'))
      .filter((g) => /^\d+$/.test(g))
      .map(Number)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

function readlinkBase(p: string): string {
  try {
    return path.basename(fs.readlinkSync(p));
  } catch {
    return '';
  }
}

/** The IOMMU driver of an IOMMU instance, by the name the kernel gives its sysfs entry. */
export function iommuDriverOf(instance: string): string | null {
  if (/^dmar\d+$/.test(instance)) return 'intel-iommu';
  if (/^ivhd\d+$/.test(instance)) return 'amd-iommu';
  // arm-smmu-v3 names its sysfs entry smmu3.0x<base> (seen in the arm64 lab), arm-smmu (v1/v2) smmu.0x<base>.
  if (/^(smmu3\.|arm-smmu-v3)/.test(instance)) return 'arm-smmu-v3';
  if (/^smmu\./.test(instance)) return 'arm-smmu';
  if (/^virtio/.test(instance)) return 'virtio-iommu';
  return instance || null;
}

/** The drivers of the IOMMUs the kernel registered (/sys/class/iommu/*). */
export function activeIommuDrivers(root = '/sys/class/iommu'): Set<string> {
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    // No IOMMU registered (or no sysfs): none translates.
  }
  return new Set(names.map(iommuDriverOf).filter((d): d is string => d !== null));
}

/**
 * Which groups and which device cdevs some process holds open: the VFIO paths in
 * use. Reading other processes' fds needs CAP_SYS_PTRACE or root; what cannot be
 * read is left out (the device's path is then null, not guessed).
 */
function heldVfio(proc = '/proc'): { groups: Set<number>; cdevs: Set<string> } {
  const groups = new Set<number>();
  const cdevs = new Set<string>();
  let pids: string[] = [];
  try {
    pids = fs.readdirSync(proc).filter((p) => /^\d+$/.test(p));
  } catch {
    return { groups, cdevs };
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(path.join(proc, pid, 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = fs.readlinkSync(path.join(proc, pid, 'fd', fd));
      } catch {
        continue;
      }
      const g = /^\/dev\/vfio\/(\d+)$/.exec(target);
      if (g) groups.add(Number(g[1]));
      const c = /^\/dev\/vfio\/devices\/(vfio\d+)$/.exec(target);
      if (c) cdevs.add(c[1]);
    }
  }
  return { groups, cdevs };
}

/** Every device in an IOMMU group, with its driver, IOMMU driver and, where it shows, its path. */
export function hostDevices(root = '/sys'): HostDevice[] {
  const groupsDir = path.join(root, 'kernel', 'iommu_groups');
  const groups = groupIds(root);
  if (groups.length === 0) return [];
  const held = root === '/sys' ? heldVfio() : { groups: new Set<number>(), cdevs: new Set<string>() };
  const out: HostDevice[] = [];
  for (const g of groups) {
    let devices: string[] = [];
    try {
      devices = fs.readdirSync(path.join(groupsDir, String(g), 'devices'));
    } catch {
      continue;
    }
    for (const device of devices.sort()) {
      const dir = path.join(groupsDir, String(g), 'devices', device);
      const driver = readlinkBase(path.join(dir, 'driver'));
      let cdev = '';
      try {
        cdev = fs.readdirSync(path.join(dir, 'vfio-dev')).find((n) => n.startsWith('vfio')) ?? '';
      } catch {
        // no VFIO device cdev (not vfio-pci, or a kernel without CONFIG_VFIO_DEVICE_CDEV)
      }
      let devicePath: DevicePath | null = null;
      if (driver && driver !== 'vfio-pci') devicePath = 'kernel';
      else if (cdev && held.cdevs.has(cdev)) devicePath = 'vfio-cdev';
      else if (held.groups.has(g)) devicePath = 'vfio-group';
      out.push({ device, group: g, driver, iommu_driver: iommuDriverOf(readlinkBase(path.join(dir, 'iommu'))), path: devicePath });
    }
  }
  return out;
}

/**
 * Runs the group snapshot probe (iommu_group_show_type) once per group by reading
 * each group's `type` file: the program reports the group's current domain and
 * devices. Returns how many groups were read.
 */
export function readGroupTypes(root = '/sys'): number {
  return groupIds(root).filter((g) => groupDomainType(g, root) !== null).length;
}

/** The devices a capture header recorded (protobuf gives '' for what was unknown). */
export function recordedDevices(devices: { device: string; group: number; driver: string; iommuDriver: string; path: string }[] | undefined): HostDevice[] {
  return (devices ?? []).map((d) => ({
    device: d.device,
    group: d.group,
    driver: d.driver,
    iommu_driver: d.iommuDriver || null,
    path: d.path === 'vfio-group' || d.path === 'vfio-cdev' || d.path === 'kernel' ? d.path : null,
  }));
}

/**
 * The group's default domain type as sysfs prints it (DMA, DMA-FQ, identity, ...), or
 * null (a group removed meanwhile, or a kernel before 5.11 without the attribute).
 */
export function groupDomainType(group: number, root = '/sys'): string | null {
  try {
    return fs.readFileSync(path.join(root, 'kernel', 'iommu_groups', String(group), 'type'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}
