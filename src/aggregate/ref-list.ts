/**
 * One group's outstanding references in columns, oldest first: 20 bytes a
 * reference (time, pid, tid, site) where an object per reference cost about 115
 * (the object, its slot and the time's heap number). Capacity doubles as it fills
 * and halves when three quarters are free, so mass puts give the memory back.
 */
export class RefList {
  length = 0;
  private ts = new Float64Array(MIN);
  /** pid, tid, site per reference. */
  private ints = new Int32Array(3 * MIN);

  tsAt(i: number): number {
    return this.ts[i];
  }
  pidAt(i: number): number {
    return this.ints[3 * i];
  }
  tidAt(i: number): number {
    return this.ints[3 * i + 1];
  }
  siteAt(i: number): number {
    return this.ints[3 * i + 2];
  }

  push(ts: number, pid: number, tid: number, site: number): void {
    if (this.length === this.ts.length) this.resize(this.ts.length * 2);
    const i = this.length++;
    this.ts[i] = ts;
    this.ints[3 * i] = pid;
    this.ints[3 * i + 1] = tid;
    this.ints[3 * i + 2] = site;
  }

  /** Removes the i-th, keeping the order (puts remove near the end: little moves). */
  removeAt(i: number): void {
    this.ts.copyWithin(i, i + 1, this.length);
    this.ints.copyWithin(3 * i, 3 * (i + 1), 3 * this.length);
    this.length--;
    if (this.ts.length > MIN && this.length < this.ts.length / 4) this.resize(this.ts.length / 2);
  }

  /** Slots allocated (for the memory figures). */
  get capacity(): number {
    return this.ts.length;
  }

  private resize(n: number): void {
    const ts = new Float64Array(n);
    ts.set(this.ts.subarray(0, this.length));
    const ints = new Int32Array(3 * n);
    ints.set(this.ints.subarray(0, 3 * this.length));
    this.ts = ts;
    this.ints = ints;
  }
}

const MIN = 16;
