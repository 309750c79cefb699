import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, crc32Js } from '../../src/capture/crc32';

test('crc32: the check value of CRC-32/ISO-HDLC, natively and in the JavaScript fallback', () => {
  const check = Buffer.from('123456789', 'latin1');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(crc32Js(check), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('crc32: the fallback agrees with the native one on random frames of every small length and a large one', () => {
  for (let n = 1; n < 300; n++) {
    const b = randomBytes(n);
    assert.equal(crc32Js(b), crc32(b), `length ${n}`);
  }
  const big = randomBytes(1 << 20);
  assert.equal(crc32Js(big), crc32(big));
  // A view into a larger buffer: only its own bytes count.
  assert.equal(crc32(big.subarray(100, 200)), crc32Js(Buffer.from(big.subarray(100, 200))));
});
