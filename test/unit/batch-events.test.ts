/**
 * BatchEvents builds a frame's events one at a time, after checking the whole
 * batch: a damaged batch must throw before its first event, never half-way.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { BatchEvents, readBatch } from '../../src/capture/batch';
import { Frame, PREAMBLE_SIZE } from '../../src/capture/proto';
import { readCaptureFile } from '../../src/capture/reader';
import { ColumnType, EventKindSpec } from '../../src/capture/types';
import { readEventsFrame, type Batch } from '../../src/capture/wire';
import { RawEvent } from '../../src/events/types';
import { header, vfioLike, writeCapture } from '../bench/synthetic';

const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'batch-events-')), 'one-frame.iotrace');
writeCapture(file, ['iommu.map', 'iommu.unmap'], vfioLike(1000));
const bytes = fs.readFileSync(file);
const kinds = new Map<number, EventKindSpec>(header([]).kinds.map((k) => [k.id, k]));

/** The frames' payloads, in file order. */
function payloads(): Buffer[] {
  const out: Buffer[] = [];
  let off = PREAMBLE_SIZE;
  while (off < bytes.length) {
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[off++];
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    out.push(bytes.subarray(off, off + len));
    off += len + 4;
  }
  return out;
}

const EVENTS_TAG = (3 << 3) | 2;
/** The capture's string table, from its strings frames. */
const strings = payloads()
  .filter((p) => p[0] !== EVENTS_TAG)
  .map((p) => Frame().toObject(Frame().decode(p), { arrays: true }) as { strings?: { values: string[] } })
  .flatMap((f) => f.strings?.values ?? []);

/** The one events frame, decoded by the wire reader (afresh each call: it reuses its arena). */
function eventsFrame(): Batch {
  return readEventsFrame(payloads().find((p) => p[0] === EVENTS_TAG)!);
}

function drain(it: BatchEvents): RawEvent[] {
  const out: RawEvent[] = [];
  for (let e = it.next(); e; e = it.next()) out.push(e);
  return out;
}

function column(b: Batch, type: number) {
  return b.columns.find((c) => kinds.get(c.kind)!.columns[c.index].type === type)!;
}

test('one event at a time gives what the whole-frame read and the file reader give', () => {
  const expected: RawEvent[] = [];
  readCaptureFile(file, { onEvent: (e) => expected.push(e) });
  assert.equal(expected.length, 1000);
  const it = new BatchEvents(eventsFrame(), kinds, strings);
  assert.equal(it.count, 1000);
  assert.equal(it.skipped, 0);
  assert.deepEqual(drain(it), expected);
  assert.deepEqual(readBatch(eventsFrame(), kinds, strings).events, expected);
});

test('a string index past the table in the last event throws before the first event', () => {
  const b = eventsFrame();
  const col = column(b, ColumnType.STRING);
  (col.values as Float64Array)[col.values.length - 1] = 9999;
  assert.throws(() => new BatchEvents(b, kinds, strings), /string 9999 is not in the table/);
});

test('an address column one value short throws before the first event', () => {
  const b = eventsFrame();
  const col = column(b, ColumnType.ADDR);
  col.valuesLo = (col.valuesLo as Float64Array).subarray(0, col.valuesLo.length - 1);
  assert.throws(() => new BatchEvents(b, kinds, strings), /is short/);
});

test('an integer column one value short throws before the first event', () => {
  const b = eventsFrame();
  const col = column(b, ColumnType.INT);
  col.values = (col.values as Float64Array).subarray(0, col.values.length - 1);
  assert.throws(() => new BatchEvents(b, kinds, strings), /is short/);
});
