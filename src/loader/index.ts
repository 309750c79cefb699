/**
 * bpf-loader-ts: a small libbpf-based loader for Node (an N-API addon under
 * native/ and this TypeScript face).
 */
export { BpfObject, Link, LoadError } from './object';
export { ATTACH_KINDS } from './object';
export type { AttachKind, OpenOptions, Trampoline } from './object';
export { BpfMap, MapType } from './map';
export type { MapEntry } from './map';
export { RingBuffer, forEachRecord } from './ringbuf';
export type { RecordBatch, RingBufferOptions } from './ringbuf';
export { Btf } from './btf';
export type { FieldLayout, StructLayout, FuncProto } from './btf';
export { Kallsyms } from './kallsyms';
export type { KernelSymbol } from './kallsyms';
export * as features from './features';
export { closeAll } from './lifecycle';
export { native, PACKAGE_ROOT } from './native';
export type { NativeMapInfo } from './native';
