import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../loader/native';

export const MAGIC = Buffer.from('IOTRACE\0', 'latin1');
export const FORMAT_VERSION = 1;
/** Magic plus the little-endian version. */
export const PREAMBLE_SIZE = MAGIC.length + 4;

// Every integer in the format fits a double exactly (times are relative, addresses
// are split into 32-bit halves), so decode int64 fields as plain numbers.
(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();

let frameType: protobuf.Type | undefined;

/** The Frame message type of src/capture/iotrace.proto. */
export function Frame(): protobuf.Type {
  if (!frameType) {
    const root = protobuf.loadSync(path.join(PACKAGE_ROOT, 'src', 'capture', 'iotrace.proto'));
    frameType = root.lookupType('iommutrace.capture.v1.Frame');
  }
  return frameType;
}
