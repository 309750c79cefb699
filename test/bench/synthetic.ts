import { captureKinds } from '../../src/capture/kinds';
import { CaptureHeader } from '../../src/capture/types';
import { CaptureEvent, CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { BPF_OBJECT } from '../helpers';

export const decoder = new Decoder(EventSchema.fromFile(BPF_OBJECT));

/**
 * `n` ring records of iommu.map into one domain, laid out from the BTF of the
 * object `d` decodes (ab.ts passes another build's), as the ring hands them over:
 * the buffer, each record's stride and its length.
 */
export function dmaRecords(d: Decoder, n = 4096): { buf: Buffer; stride: number; length: number } {
  const dma = [...d.schema.types.values()].find((t) => t.kind === 'dma')!;
  const stride = (dma.layout.size + 7) & ~7;
  const buf = Buffer.alloc(n * stride);
  const f = (name: string) => dma.layout.fields.find((x) => x.name === name)!.offset;
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    buf.writeBigUInt64LE(BigInt(1e9 + i * 1000), o + f('hdr.ts_ns'));
    buf.writeUInt16LE(dma.id, o + f('hdr.type'));
    buf.writeUInt16LE(d.schema.probeIds.get('iommu.map')!, o + f('hdr.probe'));
    buf.write('qemu', o + f('hdr.comm'));
    buf.writeBigUInt64LE(0xffff888104a3c000n, o + f('domain'));
    buf.writeBigUInt64LE(BigInt(i) << 12n, o + f('iova'));
    buf.writeBigUInt64LE(4096n, o + f('done'));
    buf.writeBigUInt64LE(BigInt(500 + i), o + f('lat_ns'));
  }
  return { buf, stride, length: dma.layout.size };
}

export function header(attached: string[]): CaptureHeader {
  return {
    toolVersion: 'bench', host: 'bench', kernelRelease: '6.1.0-bench', bootId: '', btfFingerprint: '', btf: true,
    probes: attached.map((name) => ({ name, target: name, mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] })),
    clockBaseNs: '0', wallBaseUnixNs: Date.now() * 1e6, kinds: captureKinds(decoder), leakAgeNs: 0, lockdown: '', argv: [],
  };
}

/**
 * A VFIO-like stream: 2 MiB mappings of 4 KiB pages into one domain, as Debian
 * 6.1's type1 driver maps them, with an unmap per 512 maps and a pin per 512.
 */
export function* vfioLike(n: number): Generator<CaptureEvent> {
  let ts = 1_000_000;
  let iova = 0x100000000n;
  for (let i = 0; i < n; i++) {
    ts += 900 + ((i * 7919) % 700);
    const common = { ts_ns: ts, pid: 4242, tid: 4242, ret: 0, comm: 'vfio-workload' };
    if (i % 512 === 511) {
      yield { kind: 'dma', ...common, probe: 'iommu.unmap', lat_ns: 40_000 + (i % 5000), domain: 0xffff888104a3c000n, iova: iova - (511n << 12n), size: 2 << 20, done: 2 << 20 };
    } else {
      yield { kind: 'dma', ...common, probe: 'iommu.map', lat_ns: 600 + ((i * 31) % 900), domain: 0xffff888104a3c000n, iova, size: 4096, done: 4096 };
      iova += 4096n;
    }
  }
}

/** Writes `events` into a capture at `file`; returns its size in bytes. */
export function writeCapture(file: string, attached: string[], events: Iterable<CaptureEvent>): { bytes: number; events: number } {
  const w = new CaptureWriter(file, header(attached), { force: true });
  for (const e of events) w.add(e);
  w.close({ endNs: 0, lost: 0, stopReason: 'duration' });
  return { bytes: w.bytes, events: w.events };
}
