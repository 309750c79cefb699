import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { RawEvent } from '../../src/events/types';
import { LiveSource } from '../../src/source/live';
import { isRoot, need } from '../helpers';

/*
 * A VMM whose events wait in the ring (behind a backlog; here the consumer is
 * paused) while it exits is still named: the kernel notes the processes that ask
 * for DMA maps (it_requesters; the selftest probe stands in for a map request on a
 * host without VFIO) and the source looks them up apart from the ring.
 */
test('a process that exits while its events wait in the ring is named from it_requesters, read apart from the ring', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  // argv[0] as a VMM's, QEMU's -name after node's own; it calls getppid() once told to, then lives 1.5 s.
  const child = spawn(process.execPath, ['-e', 'process.stdin.once("data", () => { for (let i = 0; i < 10; i++) process.ppid; setTimeout(() => process.exit(0), 1500); });', '--', '-name', 'guest=vm-late'], {
    argv0: 'qemu-system-x86_64',
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const cgroup = fs.readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').match(/^0::(.*)$/m)?.[1] ?? null;
  let src: LiveSource | undefined;
  try {
    src = await LiveSource.open({ recordAll: true, select: (n) => n === 'selftest.getppid', targetTgid: child.pid });
    const events: RawEvent[] = [];
    src.start((e) => events.push(e));
    src.pause();
    child.stdin!.write('go\n');
    await exited;
    assert.equal(fs.existsSync(`/proc/${child.pid}`), false, 'the child is gone before its events are read');
    src.resume();
    src.stop();
    assert.equal(events.filter((e) => e.pid === child.pid).length, 10, 'its ten calls, read after it exited');
    assert.deepEqual(src.processFacts(child.pid!), { pid: child.pid, vm: 'vm-late', cgroup });
  } finally {
    src?.stop();
    child.kill();
  }
});
