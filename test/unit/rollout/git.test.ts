// rolloutGit over a real GitRepo on a local bare remote: history reads (show, log) and push-mode writes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { GitRepo } from '../../../src/git/repo.ts';
import { rolloutGit, type RolloutGit } from '../../../src/rollout/git.ts';
import { log, makeRemote, otherWriterCommit, showFile, tmpDir } from '../../integration/git/helpers/repos.ts';

const web = (image: string) => `kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  template:\n    spec:\n      containers:\n        - {name: app, image: ${image}}\n`;
const ref = { namespace: 'prod', kind: 'Deployment', name: 'web' };

describe('rolloutGit (push mode, local bare remote)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let bare: string;
  let repo: GitRepo;
  let git: RolloutGit;
  const shas: string[] = [];

  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-rollout-git-'));
    bare = await makeRemote(root, { 'apps/web.yaml': web('v1'), 'README.md': 'x\n' });
    shas.push(await otherWriterCommit(bare, { 'README.md': 'y\n' }, 'readme'));
    shas.push(await otherWriterCommit(bare, { 'apps/web.yaml': web('v2') }, 'web v2'));
    repo = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w'), logger: pino({ level: 'silent' }) });
    git = rolloutGit(repo, { mode: 'push' });
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('locates the document and reads the tip and older versions', async () => {
    const loc = git.locate(ref);
    assert.equal(loc.state, 'located');
    assert.equal(await git.show('tip', 'apps/web.yaml'), web('v2'));
    const history = await git.log('apps/web.yaml', 10);
    assert.equal(history.length, 2, 'only commits that changed the file');
    assert.equal(history[0], shas[1]);
    assert.equal(await git.show(history[1]!, 'apps/web.yaml'), web('v1'));
    assert.deepEqual(await git.log('apps/web.yaml', 1), [shas[1]]);
  });

  it('a file missing at a revision reads as undefined; a bad revision is an error', async () => {
    assert.equal(await git.show('tip', 'apps/none.yaml'), undefined);
    assert.equal(await git.show(shas[0]!, 'apps/none.yaml'), undefined);
    await assert.rejects(git.show('0'.repeat(40), 'apps/web.yaml'), /no such revision/);
  });

  it('writes the annotation in one commit, and reports a value git holds as already there', async () => {
    const change = { type: 'field' as const, ref, path: ['metadata', 'annotations', 'kube-latch.io/rollout'], value: 'rev=3 images=app=v2 milestone=50%' };
    const r = await git.write([change], () => true);
    assert.ok(r.ok);
    assert.deepEqual(r.written, [change]);
    assert.match(r.revision!, /^[0-9a-f]{40}$/);
    assert.equal(await showFile(bare, 'main', 'apps/web.yaml'), web('v2').replace('metadata:\n', 'metadata:\n  annotations:\n    kube-latch.io/rollout: rev=3 images=app=v2 milestone=50%\n'));
    const commits = (await log(bare)).length;
    const again = await git.write([{ ...change }], () => true);
    assert.ok(again.ok);
    assert.equal(again.written.length, 0);
    assert.equal(again.already.length, 1);
    assert.equal((await log(bare)).length, commits, 'no empty commit');
  });

  it('refuses a revert PR in push mode, and stops before a push when not leading', async () => {
    const p = await git.propose([], { branch: 'x', title: 't', body: 'b', mayPush: () => true });
    assert.deepEqual(p, { ok: false, error: 'a revert PR needs --mode pr' });
    const change = { type: 'field' as const, ref, path: ['metadata', 'annotations', 'kube-latch.io/rollout'], value: 'complete' };
    assert.deepEqual(await git.write([change], () => false), { ok: false, notLeader: true });
  });
});
