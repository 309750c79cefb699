/** The writer's frame size: what a reader turns into event objects at once. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CaptureStream } from '../../src/capture/reader';
import { BATCH_EVENTS, CaptureWriter } from '../../src/capture/writer';
import { header, vfioLike } from '../bench/synthetic';

test('a capture is written in frames of 1,024 events, so a replay holds at most that many event objects at once', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-frames-')), 'f.iotrace');
  try {
    const w = new CaptureWriter(file, header(['iommu.map', 'iommu.unmap']));
    for (const e of vfioLike(3000)) w.add(e);
    w.close({ endNs: 0, lost: 0, stopReason: 'duration' });
    assert.equal(BATCH_EVENTS, 1024);
    const s = new CaptureStream(file);
    const sizes: number[] = [];
    for (let b = s.next(); b; b = s.next()) sizes.push(b.length);
    s.close();
    assert.deepEqual(sizes, [1024, 1024, 952]);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
});
