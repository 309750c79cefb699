import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { domainTypeName } from '../../src/aggregate/domain-type';
import { Aggregator } from '../../src/aggregate/engine';
import { RawEvent } from '../../src/events/types';
import { hostDevices, iommuDriverOf, recordedDevices, type HostDevice } from '../../src/probes/iommu-groups';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-sysfs-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A sysfs tree as the lab's Intel guest has it: a NIC on e1000e in group 3, a function on vfio-pci in group 4. */
function sysfs(): string {
  const root = path.join(tmp, 'sys');
  const dev = (bdf: string, group: number, driver: string, iommu: string): void => {
    const d = path.join(root, 'devices', 'pci0000:00', bdf);
    fs.mkdirSync(d, { recursive: true });
    fs.mkdirSync(path.join(root, 'bus', 'pci', 'drivers', driver), { recursive: true });
    fs.mkdirSync(path.join(root, 'devices', 'virtual', 'iommu', iommu), { recursive: true });
    fs.symlinkSync(path.join(root, 'bus', 'pci', 'drivers', driver), path.join(d, 'driver'));
    fs.symlinkSync(path.join(root, 'devices', 'virtual', 'iommu', iommu), path.join(d, 'iommu'));
    const g = path.join(root, 'kernel', 'iommu_groups', String(group));
    fs.mkdirSync(path.join(g, 'devices'), { recursive: true });
    fs.writeFileSync(path.join(g, 'type'), 'DMA-FQ\n');
    fs.symlinkSync(d, path.join(g, 'devices', bdf));
  };
  dev('0000:00:03.0', 3, 'e1000e', 'dmar0');
  dev('0000:00:04.0', 4, 'vfio-pci', 'ivhd0');
  return root;
}

test('the devices behind an IOMMU: group, driver, IOMMU driver from the instance name, kernel path for a kernel driver', () => {
  const devices = hostDevices(sysfs());
  assert.deepEqual(devices, [
    { device: '0000:00:03.0', group: 3, driver: 'e1000e', iommu_driver: 'intel-iommu', path: 'kernel' },
    // Nobody holds it (no /proc here): its path is unknown, not guessed.
    { device: '0000:00:04.0', group: 4, driver: 'vfio-pci', iommu_driver: 'amd-iommu', path: null },
  ]);
  assert.equal(iommuDriverOf('arm-smmu-v3.0.auto'), 'arm-smmu-v3');
  assert.equal(iommuDriverOf('smmu3.0x0000000009050000'), 'arm-smmu-v3');
  assert.equal(iommuDriverOf('smmu.0x000000002b400000'), 'arm-smmu');
  assert.deepEqual(hostDevices(path.join(tmp, 'nothing')), []);
  // What a capture header keeps comes back the same.
  const recorded = recordedDevices(devices.map((d) => ({ ...d, iommuDriver: d.iommu_driver ?? '', path: d.path ?? '' })));
  assert.deepEqual(recorded, devices);
});

test('domain types by the names sysfs uses', () => {
  assert.deepEqual([0, 1, 3, 4, 11].map(domainTypeName), ['blocked', 'unmanaged', 'DMA', 'identity', 'DMA-FQ']);
  assert.equal(domainTypeName(0x81), '0x81');
});

const hdr = (ts: number, probe: string) => ({ ts_ns: ts, pid: 1, tid: 1, type: 0, ret: 0, comm: 'iommutrace', probe });
const DOMAIN = 0xffff888001230000n;

test('the snapshot at start places DMA into a domain attached before: on the device, with its path, counted as no attach', () => {
  const host: HostDevice[] = [{ device: '0000:00:03.0', group: 3, driver: 'e1000e', iommu_driver: 'intel-iommu', path: 'kernel' }];
  const a = new Aggregator({ attached: new Set(['iommu.group_snapshot', 'iommu.map_atomic', 'iommu.unmap', 'iommu.attach_group']), symbolize: String, leakAgeNs: 0, hostDevices: host });
  a.add({ kind: 'attach', ...hdr(1, 'iommu.group_snapshot'), lat_ns: 0, domain: DOMAIN, group: 0xffff1n, domain_type: 11, group_id: 3, dev_name: '0000:00:03.0', driver: 'e1000e' } as RawEvent);
  for (let i = 0; i < 3; i++) {
    a.add({ kind: 'dma', ...hdr(10 + i, 'iommu.map_atomic'), lat_ns: 500, domain: DOMAIN, iova: 0x1000n, size: 4096, done: 4096, group_id: 3, pad: 0 } as RawEvent);
  }
  a.add({ kind: 'dma', ...hdr(20, 'iommu.unmap'), lat_ns: 500, domain: DOMAIN, iova: 0x1000n, size: 8192, done: 8192, group_id: 3, pad: 0 } as RawEvent);
  const { devices } = a.summary(100);
  assert.deepEqual(devices, [
    {
      device: '0000:00:03.0', group: 3, driver: 'e1000e', path: 'kernel', iommu_driver: 'intel-iommu', domain_type: 'DMA-FQ',
      attaches: 0, detaches: 0, attach_errors: 0, map_calls: 3, map_bytes: 12288, unmap_calls: 1, unmap_bytes: 8192, huge_map_share: 0,
    },
  ]);
});
