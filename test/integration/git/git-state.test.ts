// The watcher's GitState over a real repo: lookup from the index, write as one commit (push) or one
// PR update (pr), results instead of exceptions, and lookups that follow the written values.
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitState, type RepoGitState } from '../../../src/git/git-state.ts';
import { GitHubPullRequests } from '../../../src/git/pr/index.ts';
import type { DueLatch, Located } from '../../../src/watcher/types.ts';
import { log, makeRemote, showFile, tmpDir } from './helpers/repos.ts';
import { startGitHubStub, type Stub } from './helpers/pr-stubs.ts';
import { makeTls } from './helpers/tls.ts';

const files = {
  'apps/web.yaml': 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 20\n',
  'values/api.yaml': 'api:\n  replicas: 2\n',
};
const webRef = { namespace: 'prod', kind: 'Deployment', name: 'web' };
const apiRef = { namespace: 'prod', kind: 'Deployment', name: 'api' };

function due(state: RepoGitState, ref: typeof webRef, to: number, source?: string): DueLatch {
  const l = state.lookup({ ...ref, ...(source ? { source } : {}) });
  assert.ok(l.found);
  const from = l.declared ?? 1;
  return { ref, live: to + 1, from, band: { lo: Math.ceil(from / 2), hi: from * 2 }, to, direction: to > from ? 'up' : 'down', dueAt: Date.now(), location: l as Located };
}

describe('GitState (push mode)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let bare: string;
  let state: RepoGitState;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-state-'));
    bare = await makeRemote(root, files);
    state = await openGitState({ mode: 'push', url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' });
  });
  after(() => cleanup());

  it('lookup maps the index: located via discovery and via the source annotation; unknown is none', () => {
    assert.deepEqual(state.lookup(webRef), { found: true, declared: 20, file: 'apps/web.yaml', line: 4, via: 'discovery' });
    assert.deepEqual(state.lookup({ ...apiRef, source: 'values/api.yaml' }), { found: true, declared: 2, file: 'values/api.yaml', line: 2, via: 'source' });
    const none = state.lookup({ namespace: 'prod', kind: 'Deployment', name: 'nope' });
    assert.equal(none.found, false);
    assert.equal(!none.found && none.reason, 'none');
  });

  it('write: one commit, written latches listed, lookup follows', async () => {
    const latches = [due(state, webRef, 50), due(state, apiRef, 5, 'values/api.yaml')];
    const r = await state.write(latches, { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.written, latches);
    assert.deepEqual(r.unchanged, []);
    assert.equal(r.revision, (await log(bare))[0]!.sha);
    assert.equal((await log(bare))[0]!.subject, 'kube-latch: 2 workloads relatched');
    assert.equal(await showFile(bare, 'main', 'values/api.yaml'), 'api:\n  replicas: 5\n');
    assert.equal(state.lookup(webRef).found && (state.lookup(webRef) as Located).declared, 50);
  });

  it('write of values already in git: unchanged, no commit', async () => {
    const l = { ...due(state, webRef, 50), from: 20 };
    const r = await state.write([l], { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.written, []);
    assert.deepEqual(r.unchanged, [l]);
    assert.equal(r.revision, undefined);
    assert.equal((await log(bare)).length, 2);
  });

  it('not the leader: nothing pushed', async () => {
    const r = await state.write([due(state, webRef, 100)], { mayPush: () => false });
    assert.deepEqual(r, { ok: false, notLeader: true });
    assert.equal((await log(bare)).length, 2);
    assert.equal((state.lookup(webRef) as Located).declared, 50, 'the unpushed edit does not show as declared');
  });

  it('a remote that is down is a result, not an exception; refresh rejects', async () => {
    await rename(bare, `${bare}.away`);
    try {
      const r = await state.write([due(state, webRef, 100)], { mayPush: () => true });
      assert.equal(r.ok, false);
      assert.match(!r.ok && 'error' in r ? r.error : '', /^fetch: remote unreachable/);
      await assert.rejects(state.refresh());
    } finally {
      await rename(`${bare}.away`, bare);
    }
  });
});

describe('GitState (pr mode)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let stub: Stub;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-state-pr-'));
  });
  after(async () => {
    await stub.stop();
    await cleanup();
  });

  it('write opens the PR and returns its URL as the revision', async () => {
    const tls = makeTls();
    stub = await startGitHubStub(tls, 'tok-abcdef', 'acme', 'deploy');
    await writeFile(join(root, 'token'), 'tok-abcdef');
    const bare = await makeRemote(root, files);
    const state = await openGitState({
      mode: 'pr',
      cluster: 'eu-1',
      pullRequests: new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile: join(root, 'token'), ca: tls.ca, repo: 'acme/deploy' }),
      url: `file://${bare}`,
      workDir: join(root, 'w'),
    });
    const l = due(state, webRef, 50);
    const r = await state.write([l], { mayPush: () => true });
    assert.ok(r.ok);
    assert.deepEqual(r.written, [l]);
    assert.equal(r.revision, 'https://github.example/acme/deploy/pull/1');
    assert.match(await showFile(bare, 'kube-latch/eu-1', 'apps/web.yaml'), /replicas: 50/);
    assert.equal(state.lookup(webRef).found && (state.lookup(webRef) as Located).declared, 20, 'main is unchanged until the PR merges');
  });
});
