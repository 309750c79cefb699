import { holderOf, takerOf } from './holders';

export interface RefTaken {
  tsNs: number;
  pid: number;
  tid: number;
  comm: string;
  /** Kernel return addresses, innermost first (symbolized when listed). */
  stack: bigint[];
}

export interface GroupRefs {
  group: bigint;
  groupId: number;
  devices: Set<string>;
  gets: number;
  puts: number;
  /** References taken in the window and not (yet) dropped, oldest first. */
  outstanding: RefTaken[];
}

export interface ListedRef {
  holder?: string;
  taker: string;
  stack: string[];
  pid: number;
  comm: string;
  age_ns: number;
}

/**
 * Gets and puts balanced by group pointer. A put releases the newest outstanding
 * reference its own thread took, else the newest of any thread: nested get/put
 * pairs then match, and what stays outstanding is what was never dropped.
 * Bounded: past `maxOutstanding` references the oldest are dropped and counted.
 */
export class GroupLedger {
  readonly groups = new Map<bigint, GroupRefs>();
  private outstandingTotal = 0;
  /** Outstanding references forgotten because the ledger was full. */
  overflow = 0;

  constructor(private readonly maxOutstanding = 1_000_000) {}

  private group(ptr: bigint, id: number): GroupRefs {
    let g = this.groups.get(ptr);
    if (!g) {
      g = { group: ptr, groupId: id, devices: new Set(), gets: 0, puts: 0, outstanding: [] };
      this.groups.set(ptr, g);
    }
    if (g.groupId < 0 && id >= 0) g.groupId = id;
    return g;
  }

  get(ptr: bigint, id: number, ref: RefTaken, device?: string): void {
    const g = this.group(ptr, id);
    if (device) g.devices.add(device);
    g.gets++;
    g.outstanding.push(ref);
    if (++this.outstandingTotal > this.maxOutstanding) this.evictOldest();
  }

  put(ptr: bigint, id: number, tid: number): void {
    const g = this.group(ptr, id);
    g.puts++;
    const list = g.outstanding;
    if (list.length === 0) return; // taken before the window
    let i = list.length - 1;
    while (i >= 0 && list[i].tid !== tid) i--;
    list.splice(i >= 0 ? i : list.length - 1, 1);
    this.outstandingTotal--;
  }

  private evictOldest(): void {
    let oldest: GroupRefs | undefined;
    for (const g of this.groups.values()) {
      if (g.outstanding.length && (!oldest || g.outstanding[0].tsNs < oldest.outstanding[0].tsNs)) oldest = g;
    }
    if (!oldest) return;
    oldest.outstanding.shift();
    this.outstandingTotal--;
    this.overflow++;
  }

  /** References older than leakAgeNs at nowNs, split into held (known holders) and leaked. */
  classify(g: GroupRefs, nowNs: number, leakAgeNs: number, symbolize: (a: bigint) => string): { held: ListedRef[]; leaked: ListedRef[] } {
    const held: ListedRef[] = [];
    const leaked: ListedRef[] = [];
    for (const r of g.outstanding) {
      const age = nowNs - r.tsNs;
      if (age < leakAgeNs) continue;
      const stack = r.stack.map(symbolize);
      const taker = takerOf(stack);
      const holder = holderOf(taker);
      const item = { taker, stack, pid: r.pid, comm: r.comm, age_ns: age };
      if (holder) held.push({ holder, ...item });
      else leaked.push(item);
    }
    return { held, leaked };
  }
}
