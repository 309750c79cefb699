import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { CATALOGUE } from '../../src/probes/catalogue';
import { byCause } from '../../src/probes/causes';
import { plan } from '../../src/probes/planner';
import { table, wrap } from '../../src/report/table';
import { DataKernel, THIS_MACHINE } from './fixtures/kernels';

test('causes group the probes they hit, the widest first; symbols only where the cause is about one', () => {
  const planned = plan(new DataKernel(THIS_MACHINE), CATALOGUE);
  const groups = byCause(planned);
  const unavailable = planned.filter((p) => p.status === 'unavailable');
  assert.equal(groups[0].code, 'no_kprobes');
  assert.equal(groups[0].probes.length, unavailable.length);
  assert.ok(groups[0].probes.every((p) => p.targets.length === 0));
  const eperm = groups.find((g) => g.code === 'refused_by_kernel')!;
  assert.equal(eperm.cause, 'fentry/fexit programs are refused by this kernel (EPERM)');
  const absent = groups.find((g) => g.code === 'absent')!;
  assert.ok(absent.probes.every((p) => p.targets.length > 0), 'an absent symbol is named');
  for (let i = 1; i < groups.length; i++) assert.ok(groups[i - 1].probes.length >= groups[i].probes.length);
});

test('wrap keeps aligned spaces, breaks at spaces, hangs the rest', () => {
  assert.deepEqual(wrap('kernel      6.1 and more words here', 20, 12), ['kernel      6.1 and', '            more', '            words', '            here']);
  assert.deepEqual(wrap('short', 80), ['short']);
  assert.deepEqual(wrap('a-very-long-word-that-cannot-break tail', 10, 2), ['a-very-long-word-that-cannot-break', '  tail']);
});

test('a table wraps its last column within the width, under itself or under the row', () => {
  const rows = [['a', 'one two three four five six seven eight nine ten eleven twelve']];
  for (const line of table(['K', 'NOTES'], rows, 2, 30).split('\n')) assert.ok(line.length <= 30, line);
  const narrow = table(['K'.repeat(70), 'NOTES'], [['x', 'lacks latency, domain, group attribution, errors']], 2, 80).split('\n');
  assert.deepEqual(narrow.slice(1), ['x', '    lacks latency, domain, group attribution, errors']);
  assert.equal(table(['K', 'V'], [['a', 'b']]), 'K  V\na  b', 'no width, no wrapping');
});
