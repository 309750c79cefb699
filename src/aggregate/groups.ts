import { holderOf, takerOf } from './holders';
import { RefList } from './ref-list';
import { SiteTable } from './sites';

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
  outstanding: RefList;
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
  /** Distinct stacks kept, each with the command that took it (default 65,536). */
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
 * At the default bounds the ledger holds at most about 5 MB of references
 * (20 bytes each, see RefList, twice that while a list doubles) and 11 MB of
 * 16-frame stacks (see SiteTable).
 */
export class GroupLedger {
  readonly groups = new Map<bigint, GroupRefs>();
  private outstandingTotal = 0;
  private readonly sites: SiteTable;
  private readonly maxOutstanding: number;
  /** References not kept because the ledger was full. */
  overflow = 0;
  private readonly maxGroups: number;
  /** Gets and puts on groups past maxGroups: counted here, not kept. */
  groupOverflow = 0;

  constructor(limits: LedgerLimits = {}) {
    this.maxOutstanding = limits.maxOutstanding ?? 262_144;
    this.sites = new SiteTable(limits.maxStacks ?? 65_536);
    this.maxGroups = limits.maxGroups ?? 4096;
  }

  /** Stacks not kept because the stack table was full. */
  get stackOverflow(): number {
    return this.sites.overflow;
  }

  /** The group's entry; undefined (and counted) when the table is full and it is new. */
  private group(ptr: bigint, id: number): GroupRefs | undefined {
    let g = this.groups.get(ptr);
    if (!g) {
      if (this.groups.size >= this.maxGroups) {
        this.groupOverflow++;
        return undefined;
      }
      g = { group: ptr, groupId: id, devices: new Set(), gets: 0, puts: 0, outstanding: new RefList(), untracked: 0 };
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
    g.outstanding.push(ref.tsNs, ref.pid, ref.tid, this.sites.intern(ref.stack, ref.comm));
    this.outstandingTotal++;
  }

  put(ptr: bigint, id: number, tid: number): void {
    const g = this.group(ptr, id);
    if (!g) return;
    g.puts++;
    const list = g.outstanding;
    // Look back a bounded way for this thread's own reference.
    let i = list.length - 1;
    while (i >= 0 && i >= list.length - 64 && list.tidAt(i) !== tid) i--;
    if (i < 0 || list.tidAt(i) !== tid) {
      if (g.untracked > 0) {
        g.untracked--;
        return;
      }
      if (list.length === 0) return; // taken before the window
      i = list.length - 1;
    }
    list.removeAt(i);
    this.outstandingTotal--;
  }

  /** Per site, its symbolized frames, taker and holder: worked out once, not per reference (bounded by the site table). */
  private readonly named = new Map<number, { stack: string[]; taker: string; holder?: string; comm: string }>();

  private describe(site: number, symbolize: (a: bigint) => string): { stack: string[]; taker: string; holder?: string; comm: string } {
    let d = this.named.get(site);
    if (!d) {
      const frames = site < 0 ? ['(stack not kept: stack table full)'] : this.sites.frames(site).map(symbolize);
      const taker = takerOf(frames);
      d = { stack: frames, taker, holder: holderOf(taker), comm: site < 0 ? '(not kept)' : this.sites.comm(site) };
      this.named.set(site, d);
    }
    return d;
  }

  /** Per site: 1 held by a known holder, 2 not (0 not yet worked out). What counts() asks at every scrape, without the frames' text. */
  private held = new Uint8Array(0);

  private isHeld(site: number, symbolize: (a: bigint) => string): boolean {
    if (site < 0) return false;
    if (site >= this.held.length) {
      const grown = new Uint8Array(Math.max(256, 2 * (site + 1)));
      grown.set(this.held);
      this.held = grown;
    }
    if (this.held[site] === 0) this.held[site] = holderOf(takerOf(this.sites.frames(site).map(symbolize))) ? 1 : 2;
    return this.held[site] === 1;
  }

  /**
   * References older than leakAgeNs at nowNs, split into held (known holders) and
   * leaked; at most `limit` of each, the oldest (counts() counts them all).
   */
  classify(g: GroupRefs, nowNs: number, leakAgeNs: number, symbolize: (a: bigint) => string, limit = Infinity): { held: ListedRef[]; leaked: ListedRef[] } {
    const held: ListedRef[] = [];
    const leaked: ListedRef[] = [];
    const list = g.outstanding;
    for (let i = 0; i < list.length && (held.length < limit || leaked.length < limit); i++) {
      const age = nowNs - list.tsAt(i);
      if (age < leakAgeNs) continue;
      const { stack, taker, holder, comm } = this.describe(list.siteAt(i), symbolize);
      const item = { taker, stack, pid: list.pidAt(i), comm, age_ns: age };
      if (holder) {
        if (held.length < limit) held.push({ holder, ...item });
      } else if (leaked.length < limit) leaked.push(item);
    }
    return { held, leaked };
  }

  /** How many references classify() would list as held and as leaked, without listing them. */
  counts(g: GroupRefs, nowNs: number, leakAgeNs: number, symbolize: (a: bigint) => string): { held: number; leaked: number } {
    let held = 0;
    let leaked = 0;
    const list = g.outstanding;
    for (let i = 0; i < list.length; i++) {
      if (nowNs - list.tsAt(i) < leakAgeNs) continue;
      if (this.isHeld(list.siteAt(i), symbolize)) held++;
      else leaked++;
    }
    return { held, leaked };
  }
}
