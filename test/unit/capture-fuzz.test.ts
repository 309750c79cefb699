import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureKinds } from '../../src/capture/kinds';
import { CaptureError, readCapture } from '../../src/capture/reader';
import { CaptureWriter } from '../../src/capture/writer';
import { Decoder } from '../../src/events/decode';
import { EventSchema } from '../../src/events/schema';
import { buildReport } from '../../src/report/build';
import { BPF_OBJECT } from '../helpers';

const ROUNDS = 10_000;

/** A small deterministic PRNG, so a failure names a reproducible round. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function seedCapture(file: string): Buffer {
  const kinds = captureKinds(new Decoder(EventSchema.fromFile(BPF_OBJECT)));
  const w = new CaptureWriter(
    file,
    {
      toolVersion: 'fuzz', host: 'h', kernelRelease: 'r', bootId: '', btfFingerprint: '', btf: true,
      probes: [{ name: 'iommu.map', target: 'iommu_map', mode: 'fexit', status: 'attached', reason: '', module: '', lacks: [] }],
      clockBaseNs: '1', wallBaseUnixNs: 0, kinds, leakAgeNs: 0, lockdown: '', argv: [],
    },
    { batchEvents: 16, force: true },
  );
  for (let i = 0; i < 100; i++) {
    const common = { ts_ns: i * 1000, pid: 1, tid: 1, ret: 0, comm: 'c' + (i % 3) };
    if (i % 2) w.add({ kind: 'dma', ...common, probe: 'iommu.map', lat_ns: i, domain: 0xffff888000000000n, iova: BigInt(i) << 12n, size: 4096, done: 4096 });
    else w.add({ kind: 'group_ref', ...common, probe: 'iommu.group_get', group: 0xffff8880aa000000n, group_id: 3, nr_frames: 2, dev_name: 'd', stack: [0xffffffff81000000n, 0xffffffffc0000000n] });
  }
  w.symbols(new Map([[0xffffffffc0000000n, 'f+0x1 [m]']]));
  w.close({ endNs: 100_000, lost: 0, stopReason: 'duration' });
  return fs.readFileSync(file);
}

function mutate(buf: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(buf);
  const kind = Math.floor(rnd() * 4);
  if (kind === 0) return out.subarray(0, Math.floor(rnd() * out.length)); // truncate
  const flips = 1 + Math.floor(rnd() * 8);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(rnd() * out.length);
    if (kind === 1) out[at] ^= 1 << Math.floor(rnd() * 8); // bit flips
    else if (kind === 2) out[at] = Math.floor(rnd() * 256); // random bytes
    else out[at] = [0x00, 0x7f, 0x80, 0xff][Math.floor(rnd() * 4)]; // varint edge bytes
  }
  return out;
}

test(`${ROUNDS} mutated and truncated captures: the reader never crashes or hangs, it reports what it read or one clear error`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-'));
  const seed = seedCapture(path.join(dir, 'seed.iotrace'));
  const rnd = prng(20261121);
  const outcomes = { refused: 0, damaged: 0, cut: 0, whole: 0 };
  const file = path.join(dir, 'm.iotrace');
  for (let round = 0; round < ROUNDS; round++) {
    const m = mutate(seed, rnd);
    try {
      const c = readCapture(m);
      if (c.damage) outcomes.damaged++;
      else if (c.cut) outcomes.cut++;
      else outcomes.whole++;
      // The report (aggregation) copes with whatever the reader let through.
      if (round % 10 === 0) {
        fs.writeFileSync(file, m);
        const r = buildReport(file);
        assert.equal(r.format, 'iommutrace-report/1');
      }
    } catch (err) {
      assert.ok(err instanceof CaptureError, `round ${round}: ${(err as Error).stack}`);
      assert.ok(!(err as Error).message.includes('\n'), `round ${round}: one line`);
      outcomes.refused++;
    }
  }
  // Every kind of outcome happened: the fuzzer reached past the header.
  assert.ok(outcomes.refused > 0 && outcomes.damaged > 0 && outcomes.cut > 0, JSON.stringify(outcomes));
  console.log(`fuzz outcomes over ${ROUNDS} captures: ${JSON.stringify(outcomes)}`);
});
