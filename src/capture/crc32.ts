import * as zlib from 'node:zlib';

/** CRC-32 (IEEE 802.3, as zlib), table-driven: for Node builds without zlib.crc32. */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32Js(buf: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * zlib's own CRC-32 (Node 20.15 and later), ten times faster than the loop above,
 * which reading a capture used to spend a third of its time in.
 */
const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export const crc32: (buf: Uint8Array) => number = native ? (buf) => native(buf) : crc32Js;

/** The JavaScript fallback, exported so a test can hold it to zlib's answers. */
export { crc32Js };
