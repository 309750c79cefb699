import * as fs from 'node:fs';
import { native, NativeMapInfo } from './native';

/** BPF_MAP_TYPE_* values used by the loader. */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;

const PER_CPU = new Set<number>([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, 21]);

export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

/** A loaded map, accessed by fd. Per-CPU values come back as one Buffer per CPU. */
export class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly fd: number;
  readonly perCpu: boolean;
  /** Bytes one lookup returns: per-CPU maps hold a value per possible CPU, 8-aligned. */
  readonly rawValueSize: number;

  constructor(info: NativeMapInfo) {
    this.name = info.name;
    this.type = info.type;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.fd = info.fd;
    this.perCpu = PER_CPU.has(info.type);
    this.rawValueSize = this.perCpu ? ((this.valueSize + 7) & ~7) * native().numPossibleCpus : this.valueSize;
  }

  /**
   * The kernel's own count of the map's bytes (fdinfo's memlock): what is allocated on
   * 6.4 and later, the size when full before; undefined when fdinfo does not say.
   */
  memlock(): number | undefined {
    const m = /^memlock:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${this.fd}`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  }

  lookup(key: Buffer): Buffer | undefined {
    return native().mapLookup(this.fd, key, this.rawValueSize) ?? undefined;
  }

  update(key: Buffer, value: Buffer, flags = 0): void {
    native().mapUpdate(this.fd, key, value, flags);
  }

  delete(key: Buffer): boolean {
    return native().mapDelete(this.fd, key);
  }

  /**
   * The key's value, and the key deleted, at once: an update racing it lands in a new
   * key (read next time), never between a read and a delete. Kernels before 5.14 (no
   * lookup-and-delete on hash maps) get a lookup and a delete.
   */
  take(key: Buffer): Buffer | undefined {
    if (!this.noTake) {
      try {
        return native().mapTake(this.fd, key, this.rawValueSize) ?? undefined;
      } catch (err) {
        // EINVAL, EOPNOTSUPP, ENOTSUPP: this kernel cannot do both at once on this map.
        if (![22, 95, 524].includes((err as { errno?: number }).errno ?? 0)) throw err;
        this.noTake = true;
      }
    }
    const value = this.lookup(key);
    if (value) this.delete(key);
    return value;
  }

  private noTake = false;

  *keys(): Generator<Buffer> {
    let key: Buffer | null = null;
    for (;;) {
      key = native().mapNextKey(this.fd, key, this.keySize);
      if (!key) return;
      yield key;
    }
  }

  /**
   * Every entry, read in batches where the kernel supports it (one syscall per
   * `batchSize` entries), else key by key.
   */
  entries(batchSize = 1024): MapEntry[] {
    const out: MapEntry[] = [];
    try {
      let token: Buffer | null = null;
      for (;;) {
        const r = native().mapLookupBatch(this.fd, this.keySize, this.rawValueSize, batchSize, token);
        for (let i = 0; i < r.count; i++) {
          out.push({
            key: r.keys.subarray(i * this.keySize, (i + 1) * this.keySize),
            value: r.values.subarray(i * this.rawValueSize, (i + 1) * this.rawValueSize),
          });
        }
        if (r.done) return out;
        token = r.token;
      }
    } catch (err) {
      // Arrays and older kernels may not batch; fall back to iteration.
      if (!['EINVAL', 'EOPNOTSUPP', 'ENOTSUPP'].includes((err as { code?: string }).code ?? '')) throw err;
    }
    out.length = 0;
    for (const key of this.keys()) {
      const value = this.lookup(key);
      if (value) out.push({ key, value });
    }
    return out;
  }

  /** Splits a per-CPU value into one Buffer per CPU. */
  perCpuValues(raw: Buffer): Buffer[] {
    const stride = (this.valueSize + 7) & ~7;
    const out: Buffer[] = [];
    for (let off = 0; off + this.valueSize <= raw.length; off += stride) out.push(raw.subarray(off, off + this.valueSize));
    return out;
  }

  /** Sum over CPUs of the u64 at `offset` of a (per-CPU) value. */
  sumU64(raw: Buffer, offset = 0): bigint {
    if (!this.perCpu) return raw.readBigUInt64LE(offset);
    let sum = 0n;
    for (const v of this.perCpuValues(raw)) sum += v.readBigUInt64LE(offset);
    return sum;
  }
}
