// PR mode end to end on a local bare repo and local GitHub/GitLab API stubs: one stable branch per
// cluster, force-updated, carrying earlier proposals; one open PR/MR, created then updated, never a
// second; a separate PR on its own branch; auth and error paths of the clients.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReplicasChange } from '../../../src/git/changes.ts';
import { ApiError, clusterBranch, workloadBranch, GitHubPullRequests, GitLabMergeRequests, proposeChanges, upsertPullRequest, type PullRequests } from '../../../src/git/pr/index.ts';
import { GitError } from '../../../src/git/exec.ts';
import { GitRepo } from '../../../src/git/repo.ts';
import { git, log, makeRemote, showFile, tmpDir } from './helpers/repos.ts';
import { startGitHubStub, startGitLabStub, type Stub } from './helpers/pr-stubs.ts';
import { makeTls, type TestTls } from './helpers/tls.ts';

const TOKEN = 'api-token-0123456789';
const files = {
  'apps/web.yaml': 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 20\n',
  'apps/api.yaml': 'kind: Deployment\nmetadata: {name: api, namespace: prod}\nspec:\n  replicas: 2\n',
};
const latch = (name: string, value: number, declared: number, live = value): ReplicasChange => ({
  type: 'replicas',
  ref: { namespace: 'prod', kind: 'Deployment', name },
  value,
  declared,
  live,
  band: { lo: Math.ceil(declared / 2), hi: declared * 2 },
});

interface Provider {
  name: 'github' | 'gitlab';
  start(tls: TestTls): Promise<Stub>;
  client(stub: Stub, tokenFile: string, ca: string): PullRequests;
}

const providers: Provider[] = [
  {
    name: 'github',
    start: (tls) => startGitHubStub(tls, TOKEN, 'acme', 'deploy'),
    client: (stub, tokenFile, ca) => new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile, ca, repo: 'acme/deploy' }),
  },
  {
    name: 'gitlab',
    start: (tls) => startGitLabStub(tls, TOKEN, 'acme/platform/deploy'),
    client: (stub, tokenFile, ca) => new GitLabMergeRequests({ apiUrl: stub.apiUrl, tokenFile, ca, project: 'acme/platform/deploy' }),
  },
];

for (const p of providers) {
  describe(`PR mode with ${p.name}`, () => {
    let root: string;
    let cleanup: () => Promise<void>;
    let tls: TestTls;
    let stub: Stub;
    let bare: string;
    let repo: GitRepo;
    let prs: PullRequests;
    let tokenFile: string;
    const branch = clusterBranch('eu-1');

    before(async () => {
      ({ dir: root, cleanup } = await tmpDir('kl-pr-'));
      tls = makeTls();
      stub = await p.start(tls);
      bare = await makeRemote(root, files);
      tokenFile = join(root, 'token');
      await writeFile(tokenFile, TOKEN);
      prs = p.client(stub, tokenFile, tls.ca);
      repo = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' });
    });
    after(async () => {
      await stub.stop();
      await cleanup();
    });

    const branchTip = async () => (await git(bare, 'rev-parse', `refs/heads/${branch}`)).trim();
    const mainTip = async () => (await git(bare, 'rev-parse', 'refs/heads/main')).trim();
    const open = () => stub.prs.filter((x) => x.state === 'open');

    it('first latch: pushes the cluster branch and opens one PR; main is untouched', async () => {
      const before = await mainTip();
      const res = await proposeChanges(repo, prs, [latch('web', 50, 20, 47)], { branch, cluster: 'eu-1' });
      assert.equal(res.status, 'pushed');
      assert.equal(res.action, 'created');
      assert.equal(await mainTip(), before);
      assert.equal((await git(bare, 'rev-parse', `${branch}^`)).trim(), before, 'one commit on top of main');
      assert.match(await showFile(bare, branch, 'apps/web.yaml'), /replicas: 50/);
      assert.equal(open().length, 1);
      const pr = open()[0]!;
      assert.equal(pr.head, branch);
      assert.equal(pr.base, 'main');
      assert.equal(pr.title, 'kube-latch: prod/Deployment/web replicas 20 → 50');
      assert.ok(pr.body.includes('| prod/Deployment/web | 47 | 10-40 | 20 → **50** | `apps/web.yaml:4` |'), pr.body);
      assert.equal(res.pr!.number, pr.number);
    });

    it('a later latch force-updates the same branch, carrying the first, and updates the same PR', async () => {
      const firstTip = await branchTip();
      const res = await proposeChanges(repo, prs, [latch('api', 5, 2)], { branch, cluster: 'eu-1' });
      assert.equal(res.status, 'pushed');
      assert.equal(res.action, 'updated');
      assert.notEqual(await branchTip(), firstTip);
      assert.equal((await git(bare, 'rev-parse', `${branch}^`)).trim(), await mainTip(), 'still one commit on top of main');
      assert.match(await showFile(bare, branch, 'apps/web.yaml'), /replicas: 50/);
      assert.match(await showFile(bare, branch, 'apps/api.yaml'), /replicas: 5/);
      assert.equal(open().length, 1, 'never a second PR');
      assert.equal(open()[0]!.title, 'kube-latch: 2 workloads relatched');
      assert.ok(open()[0]!.body.includes('prod/Deployment/web') && open()[0]!.body.includes('prod/Deployment/api'));
      assert.deepEqual(res.outcomes.map((o) => o.status), ['written']);
      assert.equal(res.proposed.length, 2);
    });

    it('the same proposal again pushes nothing and keeps the one PR', async () => {
      const tip = await branchTip();
      const updates = () => stub.requests.filter((r) => r.method === 'PATCH' || r.method === 'PUT').length;
      const before = updates();
      const res = await proposeChanges(repo, prs, [latch('api', 5, 2)], { branch, cluster: 'eu-1' });
      assert.equal(res.status, 'up-to-date');
      assert.deepEqual(res.outcomes.map((o) => o.status), ['proposed'], 'the open PR already holds it: no new write');
      assert.equal(res.action, 'unchanged');
      assert.equal(updates(), before, 'no PR update');
      assert.equal(await branchTip(), tip);
      assert.equal(open().length, 1);
      const creates = stub.requests.filter((r) => r.method === 'POST');
      assert.equal(creates.length, 1, 'one create over the whole run');
    });

    it('a separate PR on its own branch (a rollout revert) leaves the cluster PR alone', async () => {
      const revertBranch = workloadBranch('eu-1', 'revert', { namespace: 'prod', name: 'web' });
      assert.equal(revertBranch, 'kube-latch/eu-1-revert-prod-web');
      const res = await proposeChanges(
        repo,
        prs,
        [{ type: 'field', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, path: ['metadata', 'annotations', 'kube-latch.io/rollout'], value: 'failed' }],
        { branch: revertBranch, carryOver: false, title: 'kube-latch: revert failed rollout of prod/Deployment/web', body: 'The rollout failed.' },
      );
      assert.equal(res.status, 'pushed');
      assert.equal(res.action, 'created');
      assert.equal(open().length, 2);
      const revert = open().find((x) => x.head === revertBranch)!;
      assert.equal(revert.title, 'kube-latch: revert failed rollout of prod/Deployment/web');
      assert.match(await showFile(bare, revertBranch, 'apps/web.yaml'), /annotations: \{kube-latch.io\/rollout: failed\}, name: web/);
      assert.match(await showFile(bare, revertBranch, 'apps/web.yaml'), /replicas: 20/, 'no carried latches');
    });

    it('a branch name that clashes with the cluster branch is refused at once, not retried', async () => {
      // 'rejected' (not 'conflict', which retries exhausted would give) shows it was not retried.
      await assert.rejects(
        proposeChanges(repo, prs, [latch('web', 100, 20)], { branch: `${branch}/below` }),
        (e: unknown) => e instanceof GitError && e.kind === 'rejected' && /failed to update ref/.test(e.message),
      );
    });

    it('after the PR is merged, the same latches change nothing', async () => {
      await git(bare, 'update-ref', 'refs/heads/main', await branchTip());
      const res = await proposeChanges(repo, prs, [latch('web', 50, 20), latch('api', 5, 2)], { branch, cluster: 'eu-1' });
      assert.equal(res.status, 'unchanged');
      assert.deepEqual(res.outcomes.map((o) => o.status), ['already', 'already']);
      assert.equal((await log(bare)).length, 2);
    });

    it('a concurrent create falls back to an update (422 on GitHub, 409 on GitLab)', async () => {
      let first = true;
      const racy: PullRequests = {
        provider: prs.provider,
        find: async (head, base) => (first ? ((first = false), null) : prs.find(head, base)),
        create: (s) => prs.create(s),
        update: (pr, s) => prs.update(pr, s),
      };
      const r = await upsertPullRequest(racy, { head: branch, base: 'main', title: 'again', body: 'b' });
      assert.equal(r.action, 'updated');
      assert.equal(open().filter((x) => x.head === branch).length, 1);
      assert.equal(open().find((x) => x.head === branch)!.title, 'again');
    });

    it('a bad token is a one-line ApiError without the token', async () => {
      const badFile = join(root, 'bad-token');
      await writeFile(badFile, 'wrong-token-abcdef');
      const bad = p.client(stub, badFile, tls.ca);
      await assert.rejects(bad.find(branch, 'main'), (e: unknown) => {
        assert.ok(e instanceof ApiError);
        assert.equal(e.status, 401);
        assert.ok(!e.message.includes('wrong-token-abcdef') && !e.message.includes('\n'));
        return true;
      });
    });

    it('sends the documented auth header and JSON on every call', () => {
      for (const r of stub.requests.filter((x) => x.headers['private-token'] === TOKEN || x.headers.authorization === `Bearer ${TOKEN}`)) {
        if (p.name === 'github') {
          assert.equal(r.headers.accept, 'application/vnd.github+json');
          assert.equal(r.headers['x-github-api-version'], '2022-11-28');
          assert.match(r.path, /^\/repos\/acme\/deploy\/pulls/);
        } else {
          assert.match(r.path, /^\/api\/v4\/projects\/acme%2Fplatform%2Fdeploy\/merge_requests/);
        }
        if (r.method !== 'GET') assert.equal(r.headers['content-type'], 'application/json');
      }
    });
  });
}

describe('PR clients refuse a non-TLS API URL', () => {
  it('http:// is refused before any request', async () => {
    const c = new GitHubPullRequests({ apiUrl: 'http://127.0.0.1:1', tokenFile: '/nonexistent', repo: 'a/b' });
    await assert.rejects(c.find('x', 'main'), /--api-url must be https/);
  });
});
