// Push mode against local bare repos: one commit per batch, no empty commits, restarts that commit
// nothing, a concurrent writer racing the push, several watchers racing each other, a remote that is
// down and comes back, lost leadership, and a remote that refuses.
import assert from 'node:assert/strict';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ReplicasChange } from '../../../src/git/changes.ts';
import { GitError } from '../../../src/git/exec.ts';
import { parseTrailers } from '../../../src/git/message.ts';
import { GitRepo, type GitRepoOptions } from '../../../src/git/repo.ts';
import { log, makeRemote, otherWriterCommit, showFile, tmpDir } from './helpers/repos.ts';

const WEB = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 20 # hpa 10-40\n  selector: {matchLabels: {app: web}}\n';
const API = 'apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: api\r\nspec:\r\n  selector: {}\r\n';
const VALUES = 'frontend:\n  replicaCount: 4 # kube-latch: prod/Deployment/frontend\n';

const web = (value: number, declared = 20): ReplicasChange => ({ type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value, live: value - 3, band: { lo: 10, hi: 40 }, declared });
const api = (value: number): ReplicasChange => ({ type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'api' }, value, live: value, band: { lo: 1, hi: 2 }, declared: 1 });
const frontend = (value: number): ReplicasChange => ({ type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'frontend' }, value, declared: 4 });

describe('push mode on a local bare repo', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let bare: string;
  let repos: GitRepo[];
  const open = async (workDir: string, extra: Partial<GitRepoOptions> = {}) => {
    const r = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, workDir), author: 'Latch Bot <bot@example.com>', retry: { baseDelayMs: 5, maxDelayMs: 50 }, ...extra });
    repos.push(r);
    return r;
  };

  beforeEach(async () => {
    ({ dir: root, cleanup } = await tmpDir());
    bare = await makeRemote(root, { 'apps/web.yaml': WEB, 'apps/api.yaml': API, 'helm/values.yaml': VALUES, 'README.md': '# repo\n' });
    repos = [];
  });
  afterEach(async () => {
    for (const r of repos) await r.close();
    await cleanup();
  });

  it('writes one commit for a batch, surgically, with the configured author and DESIGN title', async () => {
    const repo = await open('w1');
    const res = await repo.commitAndPush([web(50), api(5), frontend(10)]);
    assert.equal(res.status, 'pushed');
    assert.equal(res.attempts, 1);
    assert.deepEqual(res.outcomes.map((o) => o.status), ['written', 'written', 'written']);
    const [head, seed, ...rest] = await log(bare);
    assert.equal(rest.length, 0);
    assert.equal(seed!.subject, 'seed');
    assert.equal(head!.sha, res.commit);
    assert.equal(head!.author, 'Latch Bot <bot@example.com>');
    assert.equal(head!.subject, 'kube-latch: 3 workloads relatched');
    const [lines, trailers] = head!.body.split('\n\n');
    assert.deepEqual(lines!.split('\n'), [
      'prod/Deployment/web: live 47, old band 10-40, new 50 (was 20) at apps/web.yaml:7',
      'prod/Deployment/api: live 5, old band 1-2, new 5 (was 1) at apps/api.yaml:5',
      'prod/Deployment/frontend: new 10 (was 4) at helm/values.yaml:2',
    ]);
    // The trailers tell a restarted watcher that these values in git are kube-latch's own latches.
    assert.deepEqual(parseTrailers(trailers!), [web(50), api(5), frontend(10)]);
    assert.equal(await showFile(bare, 'main', 'apps/web.yaml'), WEB.replace('replicas: 20', 'replicas: 50'));
    assert.equal(await showFile(bare, 'main', 'apps/api.yaml'), API.replace('spec:\r\n', 'spec:\r\n  replicas: 5\r\n'));
    assert.equal(await showFile(bare, 'main', 'helm/values.yaml'), VALUES.replace('replicaCount: 4', 'replicaCount: 10'));
  });

  it('a single latch gets the one-workload title', async () => {
    const repo = await open('w1');
    await repo.commitAndPush([web(50)]);
    assert.equal((await log(bare))[0]!.subject, 'kube-latch: prod/Deployment/web replicas 20 → 50');
  });

  it('lastCommitTo tells kube-latch’s own latch in git (committer and trailers) from another writer’s edit, per file', async () => {
    const before = await open('w1');
    await before.commitAndPush([web(50)]);
    const restarted = await open('w2');
    const own = await restarted.lastCommitTo('apps/web.yaml');
    assert.equal(own?.byKubeLatch, true);
    assert.deepEqual(own?.proposed, [web(50)]);
    assert.equal((await restarted.lastCommitTo('apps/api.yaml'))?.byKubeLatch, false, 'the seed commit is not ours');
    await otherWriterCommit(bare, { 'apps/web.yaml': WEB.replace('replicas: 20', 'replicas: 30') }, 'web: 30 by hand');
    assert.equal((await restarted.lastCommitTo('apps/web.yaml'))?.byKubeLatch, true, 'until the next sync: the tip it read');
    await restarted.sync();
    const human = await restarted.lastCommitTo('apps/web.yaml');
    assert.equal(human?.byKubeLatch, false);
    assert.deepEqual(human?.proposed, []);
  });

  it('never commits a value already in git: no empty commit, and a restart in a fresh work dir commits nothing', async () => {
    const repo = await open('w1');
    assert.equal((await repo.commitAndPush([web(50)])).status, 'pushed');
    const again = await repo.commitAndPush([web(50, 20)]);
    assert.equal(again.status, 'unchanged');
    assert.equal(again.outcomes[0]!.status, 'already');
    const fresh = await open('w2');
    assert.equal(fresh.index.locate(web(50).ref).state, 'located');
    assert.equal((await fresh.commitAndPush([web(50, 20)])).status, 'unchanged');
    const reused = await open('w1');
    assert.equal((await reused.commitAndPush([web(50, 20)])).status, 'unchanged');
    assert.equal((await log(bare)).length, 2);
  });

  it('a concurrent writer wins the race: fetch, reset, redo, push again; both commits are kept', async () => {
    let raced = 0;
    const repo = await open('w1', {
      beforePush: async (attempt) => {
        if (attempt === 1) {
          raced++;
          await otherWriterCommit(bare, { 'README.md': '# repo\nedited by a human\n' }, 'docs: a human edit');
        }
      },
    });
    const res = await repo.commitAndPush([web(50)]);
    assert.equal(res.status, 'pushed');
    assert.equal(res.attempts, 2);
    assert.equal(raced, 1);
    const subjects = (await log(bare)).map((e) => e.subject);
    assert.deepEqual(subjects, ['kube-latch: prod/Deployment/web replicas 20 → 50', 'docs: a human edit', 'seed']);
    assert.equal(await showFile(bare, 'main', 'README.md'), '# repo\nedited by a human\n');
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 50 # hpa 10-40/);
  });

  it('a racing writer that set the same value: nothing is pushed twice', async () => {
    const repo = await open('w1', {
      beforePush: async (attempt) => {
        if (attempt === 1) await otherWriterCommit(bare, { 'apps/web.yaml': WEB.replace('replicas: 20', 'replicas: 50') }, 'ops: web to 50 by hand');
      },
    });
    const res = await repo.commitAndPush([web(50)]);
    assert.equal(res.status, 'unchanged');
    assert.equal(res.outcomes[0]!.status, 'already');
    assert.deepEqual((await log(bare)).map((e) => e.subject), ['ops: web to 50 by hand', 'seed']);
  });

  it('a racing writer that changed the declared value: the latch is stale and the human edit stays', async () => {
    const repo = await open('w1', {
      beforePush: async (attempt) => {
        if (attempt === 1) await otherWriterCommit(bare, { 'apps/web.yaml': WEB.replace('replicas: 20', 'replicas: 100') }, 'ops: web to 100');
      },
    });
    const res = await repo.commitAndPush([web(50, 20), api(5)]);
    assert.equal(res.status, 'pushed');
    assert.deepEqual(res.outcomes.map((o) => o.status), ['stale', 'written']);
    assert.match(res.outcomes[0]!.reason!, /git holds 100/);
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 100/);
    assert.equal((await log(bare))[0]!.subject, 'kube-latch: prod/Deployment/api replicas 1 → 5');
  });

  it('several watchers racing each other: every latch lands exactly once', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    await otherWriterCommit(
      bare,
      Object.fromEntries(names.map((n) => [`apps/${n}.yaml`, `kind: Deployment\nmetadata:\n  name: ${n}\n  namespace: prod\nspec:\n  replicas: 2\n`])),
      'more apps',
    );
    const writers = await Promise.all(names.map((n) => open(`w-${n}`)));
    const results = await Promise.all(
      writers.map((w, i) => w.commitAndPush([{ type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: names[i]! }, value: 10 + i, declared: 2 }])),
    );
    assert.ok(results.every((r) => r.status === 'pushed'));
    const entries = await log(bare);
    assert.equal(entries.length, 2 + names.length);
    for (const [i, n] of names.entries()) {
      assert.equal(entries.filter((e) => e.subject === `kube-latch: prod/Deployment/${n} replicas 2 → ${10 + i}`).length, 1);
      assert.match(await showFile(bare, 'main', `apps/${n}.yaml`), new RegExp(`replicas: ${10 + i}\\n`));
    }
    const retries = results.reduce((s, r) => s + r.attempts - 1, 0);
    assert.ok(retries >= 1, 'six simultaneous pushes race at least once');
  });

  it('a remote that is down fails with a retryable error, and the latch lands when it returns', async () => {
    const repo = await open('w1');
    await rename(bare, `${bare}.away`);
    await assert.rejects(repo.commitAndPush([web(50)]), (e: unknown) => e instanceof GitError && e.kind === 'unreachable' && e.retryable && !e.message.includes('\n'));
    await rename(`${bare}.away`, bare);
    const res = await repo.commitAndPush([web(50)]);
    assert.equal(res.status, 'pushed');
    assert.equal((await log(bare)).length, 2);
  });

  it('stops before the push when leadership is lost, and pushes once it is back', async () => {
    const repo = await open('w1');
    let leader = false;
    const lost = await repo.commitAndPush([web(50)], { mayPush: () => leader });
    assert.equal(lost.status, 'not-leader');
    assert.equal((await log(bare)).length, 1);
    leader = true;
    assert.equal((await repo.commitAndPush([web(50)], { mayPush: () => leader })).status, 'pushed');
  });

  it('gives up after the configured attempts with a retryable conflict', async () => {
    let n = 0;
    const repo = await open('w1', {
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      beforePush: async () => {
        await otherWriterCommit(bare, { 'README.md': `# repo ${n++}\n` }, `race ${n}`);
      },
    });
    await assert.rejects(repo.commitAndPush([web(50)]), (e: unknown) => e instanceof GitError && e.kind === 'conflict' && e.retryable);
    assert.ok(!(await log(bare)).some((e) => e.subject.startsWith('kube-latch')));
  });

  it('a push refused by a hook is not retried', async () => {
    const hook = join(bare, 'hooks', 'pre-receive');
    await writeFile(hook, '#!/bin/sh\necho "branch is protected" >&2\nexit 1\n');
    await chmod(hook, 0o755);
    const repo = await open('w1');
    await assert.rejects(repo.commitAndPush([web(50)]), (e: unknown) => e instanceof GitError && e.kind === 'rejected' && !e.retryable);
  });

  it('sync re-indexes only the files that changed on the remote', async () => {
    const repo = await open('w1');
    await otherWriterCommit(bare, { 'apps/new.yaml': 'kind: Deployment\nmetadata: {name: new}\nspec: {replicas: 3}\n' }, 'add new');
    const s = await repo.sync();
    assert.equal(s.reindexed, 1);
    const loc = repo.index.locate({ namespace: 'prod', kind: 'Deployment', name: 'new' });
    assert.equal(loc.state === 'located' && loc.value, 3);
  });

  it('an unknown branch and a non-clone work dir are clear config errors', async () => {
    await assert.rejects(open('w1', { branch: 'nope' }), /branch nope does not exist/);
    await mkdir(join(root, 'junk', 'repo'), { recursive: true });
    await writeFile(join(root, 'junk', 'repo', 'file'), 'x');
    await assert.rejects(open('junk'), /is not empty and is not a git clone/);
  });
});
