import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Aggregator } from '../../src/aggregate/engine';
import { PerDevice } from '../../src/aggregate/per-device';
import { probesFor, ROLES, sources } from '../../src/aggregate/truth';
import { AttachEvent, PinEvent, ProbeName, RawEvent } from '../../src/events/types';
import { PROBES } from '../../src/generated/bpf';

const base = { pid: 10, tid: 10, ret: 0, comm: 'qemu' };
const attach = (ts: number): AttachEvent => ({
  ...base, kind: 'attach', probe: 'iommu.attach_group', ts_ns: ts, lat_ns: 1, domain: 0xd3n, group: 0x1003n, domain_type: 1, group_id: 3, dev_name: '0000:00:03.0', driver: 'vfio-pci',
});
const pin = (ts: number, probe: ProbeName, pages: number, lat = 100, tid = 10): PinEvent => ({
  ...base, tid, kind: 'pin', probe, ts_ns: ts, lat_ns: lat, addr: 0n, nr_pages: pages, pinned: pages,
});

function fed(attached: ProbeName[], events: RawEvent[]): { a: Aggregator; d: PerDevice } {
  const set = new Set<string>(attached);
  const a = new Aggregator({ attached: set, symbolize: String, leakAgeNs: 0 });
  const d = a.perDevice;
  for (const e of events) {
    a.add(e);
  }
  return { a, d };
}

test('every probe of the object has a role, and each quantity its probes', () => {
  assert.deepEqual(Object.keys(ROLES).sort(), Object.keys(PROBES).sort());
  assert.deepEqual(probesFor('unmap'), ['iommu.unmap']);
  assert.deepEqual([...sources('pin.iommufd', new Set(['iommufd.pin', 'iommufd.iopt_pin']))], ['iommufd.iopt_pin']);
  assert.deepEqual([...sources('pin.iommufd', new Set(['iommufd.pin']))], ['iommufd.pin']);
  assert.deepEqual([...sources('gup', new Set(['gup.fast', 'gup.pin_fast']))].sort(), ['gup.fast', 'gup.pin', 'gup.pin_remote']);
});

test('the Devices panel counts iommufd pins where the report does (iommufd.iopt_pin when attached)', () => {
  // As iommufd maps an IOAS: 512 pages through the iopt pin path, of which an access asked for 8.
  const { a, d } = fed(['iommu.attach_group', 'iommufd.pin', 'iommufd.iopt_pin'], [attach(1), pin(2, 'iommufd.iopt_pin', 512), pin(3, 'iommufd.pin', 8)]);
  assert.equal(a.summary(10).pins.iommufd_pages, 512);
  assert.equal(d.pinned.get('0000:00:03.0'), 512, 'the panel says what the report says');
});

test('GUP unpins (io_uring, O_DIRECT) count in unpinned_pages; VFIO keeps its own figure; nested ones count once', () => {
  const attached: ProbeName[] = ['vfio.pin', 'vfio.unpin', 'gup.unpin', 'gup.unpin_page'];
  const { a } = fed(attached, [
    pin(1, 'vfio.pin', 512),
    pin(2, 'gup.unpin', 64, 0, 20), // io_uring releasing its buffers, another thread
    pin(3, 'gup.unpin_page', 1, 0, 20),
    // A read-only VFIO mapping unpinned: unpin_user_pages inside vfio_unpin_pages_remote.
    pin(10, 'gup.unpin', 256, 0),
    pin(11, 'vfio.unpin', 256, 5),
    // A GUP unpin before the VFIO unpin began is not inside it.
    pin(20, 'gup.unpin', 4, 0),
    pin(40, 'vfio.unpin', 256, 10),
  ]);
  const p = a.summary(50).pins;
  assert.equal(p.vfio_unpinned_pages, 512, 'what VFIO released');
  assert.equal(p.gup_unpinned_pages, 69, 'GUP unpins outside VFIO');
  assert.equal(p.unpinned_pages, 581, 'every page once');
});
