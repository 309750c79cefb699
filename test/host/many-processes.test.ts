import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { readAggregates } from '../../src/events/maps';
import { LiveSource } from '../../src/source/live';
import { commandWorks, isRoot, need, ROOT } from '../helpers';

test('aggregated mode, more live processes than it_agg has keys: every call counted once, summed or through the ring, and the exited processes\' keys deleted', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  if (!need(t, commandWorks('gcc', ['--version']), 'needs gcc for the producer (test/bench/getppid_procs.c)')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iommutrace-procs-'));
  const bin = path.join(dir, 'getppid_procs');
  execFileSync('gcc', ['-O2', '-o', bin, path.join(ROOT, 'test', 'bench', 'getppid_procs.c')]);
  // Every process's getppid() counts (a bash starting makes one): the producer's are told by comm.
  const mine = (comm: string): boolean => comm === 'getppid_procs';
  const src = await LiveSource.open({ recordAll: false, select: (n) => n === 'selftest.getppid' });
  let summed = 0;
  let ring = 0;
  src.start((e) => void (e.kind === 'selftest' && mine(e.comm) && ring++), undefined, { addCalls: (c) => void (mine(c.comm) && (summed += c.calls)) });
  const capacity = src.session.object.map('it_agg').maxEntries;
  const processes = capacity + 1000;
  try {
    // Synchronous: no read runs meanwhile, so all of them hold keys at once (each lives 3 s).
    const out = execFileSync(bin, [String(processes), '1', '3000'], { encoding: 'utf8' });
    const m = /calls=(\d+) failed=0 peak_live=(\d+)/.exec(out);
    assert.ok(m, out);
    const [truth, peak] = [Number(m[1]), Number(m[2])];
    // All exited: the first read takes note of their keys (their sums grew: busy, so not
    // looked up at the next), the second sees them idle, the third finds them gone.
    src.flush();
    src.flush();
    src.flush();
    assert.equal(summed + ring, truth, `${summed} summed + ${ring} through the ring`);
    if (peak > capacity) assert.ok(ring > 0 && src.sumOverflow() >= ring, `overflow ${src.sumOverflow()}, ring ${ring}`);
    assert.equal(src.lost(), 0);
    // Others' keys may still wait for a read that finds their process gone: the producer's only.
    const stale = readAggregates(src.session.object).filter((e) => mine(e.comm));
    assert.deepEqual(stale.map((e) => e.tgid), [], 'no key of an exited process is left');
  } finally {
    src.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
