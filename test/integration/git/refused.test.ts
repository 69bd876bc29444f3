// GitState.write accounts for every latch of a batch: written, unchanged, or refused with its outcome
// and a reason naming file:line. Nothing refused is pushed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitState, type RepoGitState } from '../../../src/git/git-state.ts';
import type { DueLatch, Located, WorkloadRef } from '../../../src/watcher/types.ts';
import { log, makeRemote, otherWriterCommit, showFile, tmpDir } from './helpers/repos.ts';

const files = {
  'base/shared.yaml': 'kind: Deployment\nmetadata: {name: shared}\nspec:\n  replicas: 4\n',
  'apps/web.yaml': 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 20\n',
  'apps/api.yaml': 'kind: Deployment\nmetadata: {name: api, namespace: prod}\nspec:\n  replicas: 2\n',
};
const ref = (namespace: string, name: string): WorkloadRef => ({ namespace, kind: 'Deployment', name });

function due(state: RepoGitState, r: WorkloadRef, to: number): DueLatch {
  const l = state.lookup(r);
  assert.ok(l.found);
  const from = l.declared ?? 1;
  return { ref: r, live: to, from, band: { lo: Math.ceil(from / 2), hi: from * 2 }, to, direction: to > from ? 'up' : 'down', dueAt: Date.now(), location: l as Located };
}

describe('GitState.write: refused latches', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let bare: string;
  let state: RepoGitState;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-refused-'));
    bare = await makeRemote(root, files);
    state = await openGitState({ mode: 'push', url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' });
  });
  after(() => cleanup());

  it('two latches on one scalar in one batch: both ambiguous, neither pushed; the rest of the batch is', async () => {
    const [p, s, w] = [due(state, ref('prod', 'shared'), 10), due(state, ref('staging', 'shared'), 8), due(state, ref('prod', 'web'), 50)];
    const r = await state.write([p, s, w], { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.written, [w]);
    assert.deepEqual(
      r.refused?.map((x) => [x.latch.ref.namespace, x.outcome, x.candidates, x.reason]),
      [
        ['prod', 'ambiguous', ['base/shared.yaml:4'], 'prod/Deployment/shared and staging/Deployment/shared resolve to the same replicas value at base/shared.yaml:4'],
        ['staging', 'ambiguous', ['base/shared.yaml:4'], 'prod/Deployment/shared and staging/Deployment/shared resolve to the same replicas value at base/shared.yaml:4'],
      ],
    );
    assert.equal(await showFile(bare, 'main', 'base/shared.yaml'), files['base/shared.yaml']);
    assert.equal((await log(bare)).length, 2);
  });

  it('git moved under a latch: stale, with the value and file:line it found', async () => {
    const l = due(state, ref('prod', 'api'), 5);
    await otherWriterCommit(bare, { 'apps/api.yaml': 'kind: Deployment\nmetadata: {name: api, namespace: prod}\nspec:\n  replicas: 3\n' }, 'human edit');
    const r = await state.write([l], { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.written, []);
    assert.deepEqual(r.refused?.map((x) => [x.outcome, x.reason]), [['stale', 'git holds 3 at apps/api.yaml:4, the latch was computed from 2']]);
    assert.equal((await log(bare))[0]!.subject, 'human edit');
  });

  it('the location became ambiguous since lookup: refused with every candidate', async () => {
    const l = due(state, ref('prod', 'web'), 100);
    await otherWriterCommit(bare, { 'legacy/web.yaml': 'kind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n' }, 'a copy');
    const r = await state.write([l], { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.refused?.map((x) => [x.outcome, x.candidates]), [['ambiguous', ['apps/web.yaml:4', 'legacy/web.yaml:4']]]);
    assert.equal((await log(bare))[0]!.subject, 'a copy');
  });
});
