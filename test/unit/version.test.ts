import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers';

test("package.json's version is the README changelog's newest entry", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const changelog = readme.slice(readme.indexOf('## Changelog'));
  assert.ok(changelog.length > 0, 'README has a changelog');
  const newest = /^- (\d+\.\d+\.\d+):/m.exec(changelog);
  assert.ok(newest, 'the changelog has a versioned entry');
  assert.equal(pkg.version, newest[1]);
});
