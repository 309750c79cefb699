import { captureKinds } from '../../src/capture/kinds';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { BPF_OBJECT } from '../helpers';

/** What shipCapture() holds, for the checks of the installed copy's report. */
export const SHIP_CAPTURE = {
  device: '0000:00:03.0',
  mapBytes: 4096 * 24,
  unmapBytes: 4096 * 8,
  vfioPages: 2 * 512,
  leakedGroup: 3,
  taker: 'shipmod_take+0x1c [shipmod]',
};

/**
 * A small capture of a VFIO guest: one device attached, DMA mapped and unmapped,
 * pages pinned, two group references of which one is never put. Written here so
 * the package test needs no lab.
 */
export function shipCapture(file: string): void {
  const probe = (name: string, target: string, mode: string) => ({ name, target, mode, status: 'attached', reason: '', module: '', lacks: [] });
  const w = new CaptureWriter(
    file,
    {
      toolVersion: '0.0.0-ship',
      host: 'ship',
      kernelRelease: '6.12.48-amd64',
      bootId: 'b00t',
      btfFingerprint: 'cd'.repeat(32),
      btf: true,
      probes: [
        probe('iommu.attach_dev', '__iommu_attach_device', 'fexit'),
        probe('iommu.map', 'iommu_map', 'fexit'),
        probe('iommu.unmap', 'iommu_unmap', 'fexit'),
        probe('iommu.group_get', 'iommu_group_get', 'fexit'),
        probe('iommu.group_put', 'iommu_group_put', 'fentry'),
        probe('vfio.pin', 'vfio_pin_pages_remote', 'kprobe'),
      ],
      clockBaseNs: '1000000000',
      wallBaseUnixNs: Date.now() * 1e6,
      kinds: captureKinds(new Decoder(EventSchema.fromFile(BPF_OBJECT))),
      leakAgeNs: 1e9,
      lockdown: 'none',
      argv: ['record'],
    },
    { force: true },
  );
  const DOMAIN = 0xffff888000100000n;
  const GROUP = 0xffff8880aaaa0000n;
  const GET = 0xffffffff81000010n;
  const TAKE = 0xffffffffc0a01000n;
  let ts = 1_000_000;
  const hdr = (probe: string, tid = 100) => ({ ts_ns: (ts += 1000), pid: 100, tid, ret: 0, comm: 'qemu', probe });
  const add = (e: Record<string, unknown>) => w.add(e as CaptureEvent);
  const c = SHIP_CAPTURE;
  add({ kind: 'attach', ...hdr('iommu.attach_dev'), lat_ns: 5000, domain: DOMAIN, group: GROUP, domain_type: 1, group_id: c.leakedGroup, dev_name: c.device, driver: 'vfio-pci' });
  const dma = (probe: string, n: number) => {
    for (let i = 0; i < n; i++) add({ kind: 'dma', ...hdr(probe), lat_ns: 400 + i, domain: DOMAIN, iova: 0x100000n, size: 4096, done: 4096 });
  };
  dma('iommu.map', c.mapBytes / 4096);
  dma('iommu.unmap', c.unmapBytes / 4096);
  for (let i = 0; i < c.vfioPages / 512; i++) add({ kind: 'pin', ...hdr('vfio.pin'), lat_ns: 3000, addr: 0x7f0000000000n, nr_pages: 512, pinned: 512 });
  const ref = (probe: string, tid: number) =>
    add({ kind: 'group_ref', ...hdr(probe, tid), group: GROUP, group_id: c.leakedGroup, nr_frames: 2, dev_name: c.device, stack: [GET, TAKE, ...Array(14).fill(0n)] });
  ref('iommu.group_get', 200);
  ref('iommu.group_get', 201);
  ref('iommu.group_put', 201);
  w.symbols(new Map([[GET, 'iommu_group_get+0x10'], [TAKE, c.taker]]));
  w.close({ endNs: 5e9, lost: 0, stopReason: 'duration' });
}
