import { holderOf, takerOf } from './holders';

export interface RefTaken {
  tsNs: number;
  pid: number;
  tid: number;
  comm: string;
  /** Kernel return addresses, innermost first (symbolized when listed). */
  stack: bigint[];
}

/** A reference as the ledger keeps it: the stack interned, so equal stacks are stored once. */
interface Ref {
  tsNs: number;
  pid: number;
  tid: number;
  comm: string;
  /** Index into the stack table; -1 when the table was full. */
  stack: number;
}

export interface GroupRefs {
  group: bigint;
  groupId: number;
  devices: Set<string>;
  gets: number;
  puts: number;
  /** References taken in the window and not (yet) dropped, oldest first. */
  outstanding: Ref[];
  /** Outstanding references the ledger could not keep (it was full). */
  untracked: number;
}

export interface ListedRef {
  holder?: string;
  taker: string;
  stack: string[];
  pid: number;
  comm: string;
  age_ns: number;
}

export interface LedgerLimits {
  /** Outstanding references kept with their details (default 262,144). */
  maxOutstanding?: number;
  /** Distinct stacks kept (default 65,536). */
  maxStacks?: number;
  /** Distinct groups kept (default 4,096; a host has a few hundred at most). */
  maxGroups?: number;
}

/**
 * Gets and puts balanced by group pointer. A put releases the newest outstanding
 * reference its own thread took, else the newest of any thread: nested get/put
 * pairs then match, and what stays outstanding is what was never dropped.
 * Bounded: past its limits a new reference is counted but not kept (and a later
 * put releases such an untracked one first), a new stack is not stored; both are
 * counted in `overflow` and `stackOverflow`. Gets, puts and outstanding stay exact.
 */
export class GroupLedger {
  readonly groups = new Map<bigint, GroupRefs>();
  private outstandingTotal = 0;
  private readonly stackIds = new Map<string, number>();
  private readonly stacks: bigint[][] = [];
  private readonly maxOutstanding: number;
  private readonly maxStacks: number;
  /** References not kept because the ledger was full. */
  overflow = 0;
  /** Stacks not kept because the stack table was full. */
  stackOverflow = 0;
  private readonly maxGroups: number;
  /** Gets and puts on groups past maxGroups: counted here, not kept. */
  groupOverflow = 0;

  constructor(limits: LedgerLimits = {}) {
    this.maxOutstanding = limits.maxOutstanding ?? 262_144;
    this.maxStacks = limits.maxStacks ?? 65_536;
    this.maxGroups = limits.maxGroups ?? 4096;
  }

  private intern(stack: bigint[]): number {
    const key = stack.join(',');
    let id = this.stackIds.get(key);
    if (id !== undefined) return id;
    if (this.stacks.length >= this.maxStacks) {
      this.stackOverflow++;
      return -1;
    }
    id = this.stacks.length;
    this.stacks.push(stack);
    this.stackIds.set(key, id);
    return id;
  }

  /** The group's entry; undefined (and counted) when the table is full and it is new. */
  private group(ptr: bigint, id: number): GroupRefs | undefined {
    let g = this.groups.get(ptr);
    if (!g) {
      if (this.groups.size >= this.maxGroups) {
        this.groupOverflow++;
        return undefined;
      }
      g = { group: ptr, groupId: id, devices: new Set(), gets: 0, puts: 0, outstanding: [], untracked: 0 };
      this.groups.set(ptr, g);
    }
    if (g.groupId < 0 && id >= 0) g.groupId = id;
    return g;
  }

  get(ptr: bigint, id: number, ref: RefTaken, device?: string): void {
    const g = this.group(ptr, id);
    if (!g) return;
    if (device) g.devices.add(device);
    g.gets++;
    if (this.outstandingTotal >= this.maxOutstanding) {
      g.untracked++;
      this.overflow++;
      return;
    }
    g.outstanding.push({ tsNs: ref.tsNs, pid: ref.pid, tid: ref.tid, comm: ref.comm, stack: this.intern(ref.stack) });
    this.outstandingTotal++;
  }

  put(ptr: bigint, id: number, tid: number): void {
    const g = this.group(ptr, id);
    if (!g) return;
    g.puts++;
    const list = g.outstanding;
    // Look back a bounded way for this thread's own reference.
    let i = list.length - 1;
    while (i >= 0 && i >= list.length - 64 && list[i].tid !== tid) i--;
    if (i < 0 || list[i]?.tid !== tid) {
      if (g.untracked > 0) {
        g.untracked--;
        return;
      }
      if (list.length === 0) return; // taken before the window
      i = list.length - 1;
    }
    list.splice(i, 1);
    this.outstandingTotal--;
  }

  /** Per stack id, its symbolized frames, taker and holder: worked out once, not per reference. */
  private readonly named = new Map<number, { stack: string[]; taker: string; holder?: string }>();

  private describe(stack: number, symbolize: (a: bigint) => string): { stack: string[]; taker: string; holder?: string } {
    let d = this.named.get(stack);
    if (!d) {
      const frames = stack < 0 ? ['(stack not kept: stack table full)'] : this.stacks[stack].map(symbolize);
      const taker = takerOf(frames);
      d = { stack: frames, taker, holder: holderOf(taker) };
      this.named.set(stack, d);
    }
    return d;
  }

  /** References older than leakAgeNs at nowNs, split into held (known holders) and leaked. */
  classify(g: GroupRefs, nowNs: number, leakAgeNs: number, symbolize: (a: bigint) => string): { held: ListedRef[]; leaked: ListedRef[] } {
    const held: ListedRef[] = [];
    const leaked: ListedRef[] = [];
    for (const r of g.outstanding) {
      const age = nowNs - r.tsNs;
      if (age < leakAgeNs) continue;
      const { stack, taker, holder } = this.describe(r.stack, symbolize);
      const item = { taker, stack, pid: r.pid, comm: r.comm, age_ns: age };
      if (holder) held.push({ holder, ...item });
      else leaked.push(item);
    }
    return { held, leaked };
  }

  /** How many references classify() would list as held and as leaked, without listing them. */
  counts(g: GroupRefs, nowNs: number, leakAgeNs: number, symbolize: (a: bigint) => string): { held: number; leaked: number } {
    let held = 0;
    let leaked = 0;
    for (const r of g.outstanding) {
      if (nowNs - r.tsNs < leakAgeNs) continue;
      if (this.describe(r.stack, symbolize).holder) held++;
      else leaked++;
    }
    return { held, leaked };
  }
}
