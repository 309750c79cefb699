import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { kernelBtfFingerprint } from '../../src/capture/header';

const VMLINUX = '/sys/kernel/btf/vmlinux';

test('the kernel BTF fingerprint, hashed in a later turn of the event loop, is the SHA-256 of the file', { skip: !fs.existsSync(VMLINUX) && 'no kernel BTF here' }, async () => {
  const expected = createHash('sha256').update(fs.readFileSync(VMLINUX)).digest('hex');
  assert.equal(await kernelBtfFingerprint(), expected);
});
