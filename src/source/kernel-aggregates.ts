import * as fs from 'node:fs';
import { Calls, noCalls } from '../aggregate/calls';
import { AggEntry, HistEntry, MapSource, readAggregates, readFreedDomains, readHistograms, readServedDomains, takeAggregate, takeHistogram } from '../events/maps';
import { PROBES, ProbeName } from '../generated/bpf';

const NAMES = new Map<number, ProbeName>(Object.entries(PROBES).map(([name, id]) => [id, name as ProbeName]));

/** The sums of one key at the last read. */
type Seen = Pick<AggEntry, 'calls' | 'amount' | 'asked' | 'fast' | 'partial' | 'lat_sum'>;

/** How full an in-kernel table was after a read, and (it_hist) which domains still held keys there. */
export interface KernelMapUse {
  map: 'it_agg' | 'it_hist';
  entries: number;
  maxEntries: number;
  /** it_hist: the domains holding keys, as hex addresses (0 for calls without a domain). */
  domains?: string[];
}

/** A key's bytes as a Map key. */
function keyOf(e: AggEntry): string {
  return `${e.probe}:${e.size_class}:${e.group_id}:${e.tgid}:${e.domain}`;
}

/** Whether the process is still there, in the kernel's own pid numbers. */
function processAlive(tgid: number): boolean {
  return fs.existsSync(`/proc/${tgid}`);
}

/**
 * Whether /proc numbers processes as the kernel does (the root pid namespace):
 * a container without the host's pids would see every traced process as gone.
 */
export function rootPidNamespace(): boolean {
  try {
    const ns = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return !ns || ns[1].trim().split(/\s+/).length === 1;
  } catch {
    return false;
  }
}

/**
 * Reads what the kernel summed in aggregated mode (it_agg and it_hist, per CPU)
 * and hands out what is new since the last read. Each read subtracts the previous
 * one, so nothing is counted twice. The entries of processes that have exited are
 * deleted once their last sums are read: processes come and go on a busy host and
 * it_agg (4,096 keys) would fill, sending every further call to the ring (counter
 * agg_overflow). Only those: a process found gone before the read makes no more
 * calls, so no update can race the delete.
 *
 * Domains come and go too (each VM start makes one), and it_hist's keys (2,048)
 * hold a domain and no process: a learned domain's keys for a group are deleted
 * once the domain no longer serves that group (detached, or serving another), as
 * it_domain_group says at the start of two reads in a row. Found so at the first,
 * its calls for that group were all made before it; by the second, no call that
 * looked the group up before the detach can still be adding. The same goes for
 * it_agg's keys without a process (a kernel driver's DMA).
 *
 * A domain the kernel freed (iommu.domain_free writes it_freed) makes no more calls
 * at all: every key naming it, whatever its process or group (IOTLB syncs summed
 * after the detach have none), is read a last time and deleted at the first read
 * that finds it freed, and then its it_freed entry.
 */
export class KernelAggregates {
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, number>();
  /** The processes of the entries at the last read. */
  private tgids = new Set<number>();
  /** Those whose sums grew at the last read: alive then, looked at again only once they idle. */
  private busy = new Set<number>();
  /** `domain:group` of the learned domains that no longer served the group at the last read. */
  private unserved = new Set<string>();
  /** How full it_agg and it_hist were after the last read. */
  use: KernelMapUse[] = [];

  /**
   * `clockBaseNs`: CLOCK_MONOTONIC at the source's start (event times count from it).
   * `alive`: whether a process still runs; null when that cannot be known here
   * (another pid namespace), and then nothing is deleted.
   */
  constructor(
    private readonly maps: MapSource,
    private readonly clockBaseNs: bigint,
    private readonly alive: ((tgid: number) => boolean) | null = rootPidNamespace() ? processAlive : null,
  ) {}

  /** What the kernel summed since the last call: its sums, then its latency buckets per probe and domain. */
  read(): Calls[] {
    const alive = this.alive;
    // A process whose sums grew at the last read is looked at from the next read on
    // (a /proc look per tracked process a read was much of the agent's CPU with many processes).
    const gone = new Set(alive ? [...this.tgids].filter((t) => !this.busy.has(t) && !alive(t)) : []);
    // Before the sums: a domain freed by now has made its last call.
    const freed = this.freedDomains();
    const served = readServedDomains(this.maps);
    const unserved = new Set<string>();
    /** Whether a domain's keys (for a group; of a process or none) are done with: freed, or unserved (no process) at this read and the last. */
    const retired = (domain: bigint, gid: number, tgid = 0): boolean => {
      if (freed.has(domain)) return true;
      if (tgid !== 0 || gid < 0 || domain === 0n || served.get(domain) === gid) return false;
      const k = `${domain}:${gid}`;
      unserved.add(k);
      return this.unserved.has(k);
    };
    const sums = this.readSums(gone, retired);
    const buckets = this.readBuckets(retired);
    this.unserved = unserved;
    if (freed.size) for (const key of freed.values()) this.maps.map('it_freed').delete(key);
    return [...sums, ...buckets];
  }

  /** it_freed, where the object has it (an older build may not). */
  private freedDomains(): Map<bigint, Buffer> {
    try {
      return readFreedDomains(this.maps);
    } catch {
      return new Map();
    }
  }

  /** it_agg's new sums; the keys read for the last time (process exited, domain retired) are deleted. */
  private readSums(gone: Set<number>, retired: (domain: bigint, gid: number, tgid: number) => boolean): Calls[] {
    this.tgids = new Set();
    this.busy = new Set();
    const out: Calls[] = [];
    let keys = 0;
    for (const read of readAggregates(this.maps)) {
      const probe = NAMES.get(read.probe);
      if (!probe) continue;
      const k = keyOf(read);
      const was = this.seen.get(k);
      // These are the key's last sums: its process has exited, or its domain is done with.
      // Taken and deleted at once: a call that still lands (a new domain at a freed one's
      // address) makes a new key, counted at the next read.
      const last = gone.has(read.tgid) || retired(read.domain, read.group_id, read.tgid);
      const e = last ? (takeAggregate(this.maps, read.key) ?? read) : read;
      if (last) {
        this.seen.delete(k);
      } else {
        keys++;
        if (e.tgid) this.tgids.add(e.tgid);
      }
      if (was && was.calls === e.calls) continue;
      if (!last) {
        this.seen.set(k, { calls: e.calls, amount: e.amount, asked: e.asked, fast: e.fast, partial: e.partial, lat_sum: e.lat_sum });
        if (e.tgid) this.busy.add(e.tgid);
      }
      out.push({
        probe, pid: e.tgid, tid: e.tid, comm: e.comm, domain: e.domain, group_id: e.group_id, size_class: e.size_class,
        calls: e.calls - (was?.calls ?? 0),
        amount: e.amount - (was?.amount ?? 0),
        asked: e.asked - (was?.asked ?? 0),
        fast: e.fast - (was?.fast ?? 0),
        partial: e.partial - (was?.partial ?? 0),
        lat_sum: e.lat_sum - (was?.lat_sum ?? 0),
        lat_max: e.lat_max,
        first_ns: Number(e.first_ns - this.clockBaseNs),
        last_ns: Number(e.last_ns - this.clockBaseNs),
        // Their latency buckets are it_hist's, per probe and domain: they follow.
        buckets: [],
      });
    }
    this.use[0] = { map: 'it_agg', entries: keys, maxEntries: this.maps.map('it_agg').maxEntries };
    return out;
  }

  /** it_hist's new counts, one record per probe and domain; a retired domain's keys are deleted. */
  private readBuckets(retired: (domain: bigint, gid: number) => boolean): Calls[] {
    const latency = new Map<string, Calls>();
    const kept = new Map<Buffer, bigint>();
    // A retired domain's keys are taken (read and deleted at once) for their final counts.
    const read = readHistograms(this.maps);
    const done = new Set(read.filter((h) => retired(h.domain, h.group_id)).map((h) => h.key));
    const final: HistEntry[] = [...done].flatMap((key) => takeHistogram(this.maps, key));
    for (const h of [...read.filter((x) => !done.has(x.key)), ...final]) {
      const probe = NAMES.get(h.probe);
      if (!probe) continue;
      const k = `${h.probe}:${h.bucket}:${h.group_id}:${h.domain}`;
      const was = this.buckets.get(k) ?? 0;
      if (done.has(h.key)) {
        this.buckets.delete(k);
      } else {
        this.buckets.set(k, h.count);
        kept.set(h.key, h.domain);
      }
      if (h.count === was) continue;
      const lk = `${h.probe}:${h.group_id}:${h.domain}`;
      let c = latency.get(lk);
      if (!c) latency.set(lk, (c = { ...noCalls(probe, 0, 0, '', h.domain, h.group_id), buckets: [] }));
      c.buckets!.push([h.bucket, h.count - was]);
    }
    const domains = [...new Set(kept.values())].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((d) => `0x${d.toString(16)}`);
    this.use[1] = { map: 'it_hist', entries: kept.size, maxEntries: this.maps.map('it_hist').maxEntries, domains };
    return [...latency.values()];
  }
}
