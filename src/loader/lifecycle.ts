/**
 * Everything the loader opened, closed in the safe order when the process exits:
 * ring-buffer consumers, then links, then objects. The kernel would free them
 * anyway when our fds close; doing it ourselves keeps exit deterministic.
 */
interface Closable {
  close(): void;
}

const tiers: Set<Closable>[] = [new Set(), new Set()];
let hooked = false;

export const CONSUMER = 0;
export const OBJECT = 1;

export function track(tier: number, c: Closable): void {
  tiers[tier].add(c);
  if (!hooked) {
    hooked = true;
    process.once('exit', closeAll);
  }
}

export function untrack(tier: number, c: Closable): void {
  tiers[tier].delete(c);
}

export function closeAll(): void {
  for (const tier of tiers) {
    for (const c of [...tier]) {
      try {
        c.close();
      } catch {
        // Exit path: nothing useful to do with a failure here.
      }
    }
    tier.clear();
  }
}
