// scripts/build-image.sh refuses bad flags with one line and exit 2, before it looks for buildah or builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const SCRIPT = join(import.meta.dirname, '../../../scripts/build-image.sh');

for (const [args, message] of [
  [['--nope'], "build-image.sh: unknown argument '--nope' (usage: build-image.sh [--bases local|registry] [--tag NAME])"],
  [['--bases', 'cloud'], "build-image.sh: --bases must be local or registry, got 'cloud'"],
  [['--bases'], "build-image.sh: --bases must be local or registry, got ''"],
  [['--tag'], 'build-image.sh: --tag needs a name'],
] as const) {
  test(`build-image.sh ${args.join(' ')}: exit 2, one line`, () => {
    const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8' });
    assert.deepEqual([r.status, r.stdout, r.stderr], [2, '', `${message}\n`]);
  });
}

test('build-image.sh --help prints its usage and exits 0', () => {
  const r = spawnSync('bash', [SCRIPT, '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /scripts\/build-image\.sh --bases registry/);
});
