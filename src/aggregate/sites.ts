/**
 * Where group references are taken from: a kernel stack with the command that
 * took it, stored once however many references share it. Frames live in one
 * growable Uint32Array (high and low halves) and sites are found by a hash of
 * their frames and command, so a site costs 8 bytes a frame plus about 40 (its
 * offsets and the hash's map entry): a 16-frame site about 170 bytes, where
 * arrays of BigInts keyed by their joined text cost about 700.
 * Bounded by `max`: past it a new site is not stored, only counted.
 */
export class SiteTable {
  private frameWords = new Uint32Array(1024);
  private wordsUsed = 0;
  /** Per site: first word, frame count, the next site with the same hash (-1 ends). */
  private start = new Int32Array(256);
  private count = new Uint8Array(256);
  private chain = new Int32Array(256);
  private readonly comms: string[] = [];
  /** Hash (a small integer, so V8 keeps the key unboxed) -> the newest site with it. */
  private readonly heads = new Map<number, number>();
  /** Sites not stored because the table was full. */
  overflow = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.comms.length;
  }

  /** The site's id, or -1 (counted) when the table is full and the site is new. */
  intern(frames: bigint[], comm: string): number {
    const n = Math.min(frames.length, 255);
    const words = new Uint32Array(2 * n);
    let h = 0x811c9dc5;
    for (let i = 0; i < n; i++) {
      words[2 * i] = Number(frames[i] >> 32n);
      words[2 * i + 1] = Number(frames[i] & 0xffffffffn);
      h = Math.imul(h ^ words[2 * i], 16777619);
      h = Math.imul(h ^ words[2 * i + 1], 16777619);
    }
    for (let i = 0; i < comm.length; i++) h = Math.imul(h ^ comm.charCodeAt(i), 16777619);
    const key = h & 0x3fffffff;
    for (let id = this.heads.get(key) ?? -1; id >= 0; id = this.chain[id]) if (this.same(id, words, comm)) return id;
    if (this.size >= this.max) {
      this.overflow++;
      return -1;
    }
    const id = this.size;
    if (id === this.start.length) this.growSites();
    while (this.wordsUsed + words.length > this.frameWords.length) this.frameWords = grown(this.frameWords, this.frameWords.length * 2);
    this.frameWords.set(words, this.wordsUsed);
    this.start[id] = this.wordsUsed;
    this.count[id] = n;
    this.chain[id] = this.heads.get(key) ?? -1;
    this.heads.set(key, id);
    this.comms.push(comm);
    this.wordsUsed += words.length;
    return id;
  }

  /** The site's frames, innermost first. */
  frames(id: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0, w = this.start[id]; i < this.count[id]; i++, w += 2) out.push((BigInt(this.frameWords[w]) << 32n) | BigInt(this.frameWords[w + 1]));
    return out;
  }

  comm(id: number): string {
    return this.comms[id];
  }

  private same(id: number, words: Uint32Array, comm: string): boolean {
    if (this.count[id] * 2 !== words.length || this.comms[id] !== comm) return false;
    const s = this.start[id];
    for (let i = 0; i < words.length; i++) if (this.frameWords[s + i] !== words[i]) return false;
    return true;
  }

  private growSites(): void {
    const n = this.start.length * 2;
    this.start = grown(this.start, n);
    this.count = grown(this.count, n);
    this.chain = grown(this.chain, n);
  }
}

function grown<T extends Uint32Array | Int32Array | Uint8Array>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}
