import * as path from 'node:path';
import type * as Protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../loader/native';

export const MAGIC = Buffer.from('IOTRACE\0', 'latin1');
export const FORMAT_VERSION = 1;
/** Magic plus the little-endian version. */
export const PREAMBLE_SIZE = MAGIC.length + 4;

let frameType: Protobuf.Type | undefined;

/** The Frame message type of src/capture/iotrace.proto (protobufjs is loaded on first use). */
export function Frame(): Protobuf.Type {
  if (!frameType) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const protobuf = require('protobufjs') as typeof Protobuf;
    // Every integer in the format fits a double exactly (times are relative, addresses
    // are split into 32-bit halves), so decode int64 fields as plain numbers.
    (protobuf.util as { Long: unknown }).Long = undefined;
    protobuf.configure();
    const root = protobuf.loadSync(path.join(PACKAGE_ROOT, 'src', 'capture', 'iotrace.proto'));
    frameType = root.lookupType('iommutrace.capture.v1.Frame');
  }
  return frameType;
}
