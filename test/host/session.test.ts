import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { CATALOGUE } from '../../src/probes/catalogue';
import { LiveKernel } from '../../src/probes/kernel-live';
import { ProbeSession } from '../../src/probes/session';
import { ProbeSpec } from '../../src/probes/types';
import { isRoot, need } from '../helpers';

/** Our programs currently loaded in the kernel, by name, from bpftool. */
function ourPrograms(): string[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'list'], { encoding: 'utf8' })) as { name?: string }[];
  const full = CATALOGUE.flatMap((p) => p.candidates.flatMap((c) => c.programs.map((x) => x.program)));
  // bpftool shows the full name from BTF, or the kernel's 15-character one.
  const names = new Set([...full, ...full.map((n) => n.slice(0, 15))]);
  return progs.map((p) => p.name ?? '').filter((n) => names.has(n));
}

test('a session attaches every probe the planner found available on this kernel, and leaves nothing behind', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const before = ourPrograms();
  const kernel = new LiveKernel();
  t.after(() => kernel.close());
  const session = await ProbeSession.start(kernel, CATALOGUE);
  try {
    const attached = session.attached().map((p) => p.name);
    assert.ok(attached.includes('iommu.map') && attached.includes('iommu.unmap'), `attached: ${attached.join(' ')}`);
    for (const p of session.probes) {
      if (p.status !== 'attached') assert.ok(p.reason, `${p.name} is unavailable with a reason`);
    }
    assert.ok(ourPrograms().length > before.length, 'programs are loaded while the session runs');
  } finally {
    session.close();
  }
  // The kernel frees programs after an RCU grace period: give it a moment.
  const deadline = Date.now() + 10_000;
  while (ourPrograms().length > before.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(ourPrograms(), before, 'no program of ours is left in the kernel');
});

test('every tracepoint, tp_btf and raw_tp variant in the catalogue loads and attaches on this kernel', async (t) => {
  if (!need(t, isRoot(), 'needs root to load BPF programs')) return;
  const kernel = new LiveKernel();
  t.after(() => kernel.close());
  let tried = 0;
  for (const spec of CATALOGUE) {
    for (const c of spec.candidates) {
      if (!['tracepoint', 'tp_btf', 'raw_tp'].includes(c.mode)) continue;
      tried++;
      // Loading and attaching is the question here, not which IOMMU's probe the planner would pick.
      const only: ProbeSpec[] = [{ ...spec, optIn: false, candidates: [{ ...c, iommu: undefined }] }];
      const session = await ProbeSession.start(kernel, only);
      try {
        const [p] = session.probes;
        assert.equal(p.status, 'attached', `${spec.name} via ${c.mode} ${c.target}: ${p.reason}`);
      } finally {
        session.close();
      }
    }
  }
  assert.ok(tried >= 6, `only ${tried} tracepoint variants in the catalogue`);
});
