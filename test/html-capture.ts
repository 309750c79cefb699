/**
 * A small synthetic capture with something in every section of the HTML report: a
 * VM (QEMU named by its process facts) that attaches a device, ramps its mappings
 * and pins up over a few seconds, has two maps refused, takes a group reference it
 * never drops, faults once, and a kernel driver's DMA on a second device.
 */
import { CaptureWriter } from '../src/capture/writer';
import { header } from './bench/synthetic';

export const VM = { pid: 4242, comm: 'qemu-system-x86', name: 'vm-alpha' };
export const DEVICE = '0000:00:03.0';
const DOMAIN = 0xffff888104a3c000n;
const KERNEL_DOMAIN = 0xffff888100001000n;
export const TAKER_ADDR = 0xffffffffc0a01234n;
export const TAKER = 'leaky_take_ref+0x14 [leakmod]';

export const PROBES = ['iommu.attach_group', 'iommu.detach_group', 'iommu.group_snapshot', 'iommu.map', 'iommu.unmap', 'vfio.pin', 'vfio.unpin', 'vfio.map_dma', 'iommu.group_get', 'iommu.group_put', 'iommu.iotlb_sync', 'iommu.io_page_fault'];

/** Writes it to `file`; `comm` overrides the VM's command name (hostile-text tests). */
export function writeVmCapture(file: string, comm = VM.comm): void {
  const w = new CaptureWriter(file, header(PROBES), { force: true });
  const at = (ts: number, probe: string, ret = 0, pid = VM.pid, c = comm) => ({ ts_ns: ts, pid, tid: pid, probe, ret, comm: c });
  // A kernel driver's device, attached before the capture (the snapshot at start).
  w.add({ kind: 'attach', ...at(1_000, 'iommu.group_snapshot', 0, 1, 'swapper'), lat_ns: 0, domain: KERNEL_DOMAIN, group: 0xffff0002n, domain_type: 11, group_id: 2, dev_name: '0000:00:02.0', driver: 'e1000e' });
  w.add({ kind: 'attach', ...at(50_000_000, 'iommu.attach_group'), lat_ns: 20_000, domain: DOMAIN, group: 0xffff0003n, domain_type: 1, group_id: 3, dev_name: DEVICE, driver: 'vfio-pci' });
  w.add({ kind: 'group_ref', ...at(60_000_000, 'iommu.group_get', 0, 77, 'insmod'), group: 0xffff0003n, group_id: 3, nr_frames: 2, dev_name: DEVICE, stack: [TAKER_ADDR, 0xffffffff81000100n] });
  // The ramp: 2 MiB maps and pins every 10 ms for 3 s.
  for (let i = 0; i < 300; i++) {
    const ts = 100_000_000 + i * 10_000_000;
    w.add({ kind: 'pin', ...at(ts, 'vfio.pin'), lat_ns: 30_000, addr: 0x7f0000000000n + BigInt(i) * 0x200000n, nr_pages: 512, pinned: 512 });
    w.add({ kind: 'dma', ...at(ts + 1000, 'iommu.map'), lat_ns: 2_000 + (i % 7) * 1500, domain: DOMAIN, iova: BigInt(i) * 0x200000n, size: 2 << 20, done: 2 << 20, group_id: 3, pad: 0 });
    w.add({ kind: 'dma', ...at(ts + 5000, 'iommu.map', 0, 1, 'swapper'), lat_ns: 900, domain: KERNEL_DOMAIN, iova: 0xfff00000n, size: 4096, done: 4096, group_id: 2, pad: 0 });
  }
  for (const ts of [3_200_000_000, 3_300_000_000]) {
    w.add({ kind: 'map_request', ...at(ts, 'vfio.map_dma', -12), lat_ns: 5_000, size: 2 << 20, locked_pages: 1024, limit_pages: 1024, cap_ipc_lock: 0, dma_avail: 60000, dma_entry_limit: 65535, pad: 0 });
  }
  // The device writes where its domain maps nothing.
  w.add({ kind: 'iommu_tp', ...at(3_400_000_000, 'iommu.io_page_fault', 0, 0, 'swapper'), iova: 0xdead000n, group_id: 3, flags: 1, dev_name: DEVICE, driver: 'vfio-pci' });
  // Half of it unmapped and unpinned again at the end.
  for (let i = 0; i < 150; i++) {
    const ts = 3_500_000_000 + i * 1_000_000;
    w.add({ kind: 'dma', ...at(ts, 'iommu.unmap'), lat_ns: 4_000, domain: DOMAIN, iova: BigInt(i) * 0x200000n, size: 2 << 20, done: 2 << 20, group_id: 3, pad: 0 });
    w.add({ kind: 'iotlb', ...at(ts + 500, 'iommu.iotlb_sync'), lat_ns: 1_500, domain: DOMAIN, start: BigInt(i) * 0x200000n, bytes: 2 << 20, group_id: 3, pad: 0 });
    w.add({ kind: 'pin', ...at(ts + 1000, 'vfio.unpin'), lat_ns: 10_000, addr: 0x7f0000000000n + BigInt(i) * 0x200000n, nr_pages: 512, pinned: 512 });
  }
  w.symbols(new Map([[TAKER_ADDR, TAKER], [0xffffffff81000100n, 'do_init_module+0x60']]));
  w.processes([{ pid: VM.pid, vm: VM.name, cgroup: '/machine.slice/vm-alpha' }]);
  w.close({ endNs: 4_000_000_000, lost: 0, stopReason: 'duration' });
}
