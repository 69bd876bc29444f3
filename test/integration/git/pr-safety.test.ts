// PR mode never loses work and never adopts or reopens what it should not (issue 13 §2–§4), on a local
// bare repo and the GitHub/GitLab API stubs:
// - a reviewer's commits on kube-latch/<cluster> are built on, never force-overwritten, and the latches
//   already in the PR stay in it; a value a reviewer set on the branch is kept;
// - only the PR from this repository's branch into the tracked branch is adopted (not a fork's, not one
//   into another branch);
// - a PR closed without merging rejects its latches: not carried over, not proposed again while git
//   declares what they were computed from, and said so.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReplicasChange } from '../../../src/git/changes.ts';
import { openGitState } from '../../../src/git/git-state.ts';
import { clusterBranch, GitHubPullRequests, GitLabMergeRequests, proposeChanges, type PullRequests } from '../../../src/git/pr/index.ts';
import { GitRepo, type GitRepoOptions } from '../../../src/git/repo.ts';
import type { DueLatch, Located } from '../../../src/watcher/types.ts';
import { git, log, makeRemote, otherWriterCommit, showFile, tmpDir } from './helpers/repos.ts';
import { GITLAB_PROJECT_ID, startGitHubStub, startGitLabStub, type Stub } from './helpers/pr-stubs.ts';
import { makeTls, type TestTls } from './helpers/tls.ts';

const TOKEN = 'api-token-0123456789';
const BRANCH = clusterBranch('eu-1');
const webFile = (n: number, extra = '') => `kind: Deployment\nmetadata: {name: web, namespace: prod}\n${extra}spec:\n  replicas: ${n}\n`;
const apiFile = (n: number) => `kind: Deployment\nmetadata: {name: api, namespace: prod}\nspec:\n  replicas: ${n}\n`;
const init = { 'apps/web.yaml': webFile(2), 'apps/api.yaml': apiFile(3) };
const latch = (name: string, value: number, declared: number): ReplicasChange => ({
  type: 'replicas',
  ref: { namespace: 'prod', kind: 'Deployment', name },
  value,
  declared,
  live: value,
  band: { lo: Math.ceil(declared / 2), hi: declared * 2 },
});

interface Provider {
  name: 'github' | 'gitlab';
  start(tls: TestTls, bare: string): Promise<Stub>;
  client(stub: Stub, tokenFile: string, ca: string): PullRequests;
  /** a PR/MR from a fork whose branch has the same name */
  fork: string | number;
}

const providers: Provider[] = [
  {
    name: 'github',
    start: (tls, bare) => startGitHubStub(tls, TOKEN, 'acme', 'deploy', { bare }),
    client: (stub, tokenFile, ca) => new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile, ca, repo: 'acme/deploy' }),
    fork: 'mallory',
  },
  {
    name: 'gitlab',
    start: (tls, bare) => startGitLabStub(tls, TOKEN, 'acme/platform/deploy', { bare }),
    client: (stub, tokenFile, ca) => new GitLabMergeRequests({ apiUrl: stub.apiUrl, tokenFile, ca, project: 'acme/platform/deploy' }),
    fork: GITLAB_PROJECT_ID + 57,
  },
];

interface World {
  root: string;
  bare: string;
  stub: Stub;
  prs: PullRequests;
  tokenFile: string;
  repo: GitRepo;
  tls: TestTls;
  propose(changes: ReplicasChange[]): ReturnType<typeof proposeChanges>;
  subjects(): Promise<string[]>;
  tip(): Promise<string>;
  open(): Stub['prs'];
}

for (const p of providers) {
  describe(`PR mode safety with ${p.name}`, () => {
    const worlds: World[] = [];
    let n = 0;
    let cleanup: () => Promise<void>;
    let base: string;
    before(async () => {
      ({ dir: base, cleanup } = await tmpDir('kl-pr-safety-'));
    });
    after(async () => {
      for (const w of worlds) await w.stub.stop();
      await cleanup();
    });

    /** A fresh remote holding `init`, its API stub, and a kube-latch clone. */
    async function world(extra: Partial<GitRepoOptions> = {}): Promise<World> {
      const root = join(base, String(++n));
      const bare = await makeRemote(root, init);
      const tls = makeTls();
      const stub = await p.start(tls, bare);
      const tokenFile = join(root, 'token');
      await writeFile(tokenFile, TOKEN);
      const prs = p.client(stub, tokenFile, tls.ca);
      const repo = await GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>', ...extra });
      const w: World = {
        root,
        bare,
        stub,
        prs,
        tokenFile,
        repo,
        tls,
        propose: (changes) => proposeChanges(repo, prs, changes, { branch: BRANCH, cluster: 'eu-1' }),
        subjects: async () => (await log(bare, BRANCH)).map((e) => e.subject),
        tip: async () => (await git(bare, 'rev-parse', `refs/heads/${BRANCH}`)).trim(),
        open: () => stub.prs.filter((x) => x.state === 'open'),
      };
      worlds.push(w);
      return w;
    }

    describe('§2 commits by others on the PR branch', () => {
      it('a reviewer pushes onto the branch: the next latch is built on top, the reviewer\'s commits and the latch already proposed stay', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        assert.equal(first.status, 'pushed');
        await otherWriterCommit(w.bare, { 'apps/web.yaml': webFile(10, '# reviewed: 10 is right for the sale\n') }, 'reviewer: annotate', BRANCH);
        await otherWriterCommit(w.bare, { 'NOTES.md': 'web needs 10 during the sale\n' }, 'reviewer: note', BRANCH);
        const reviewed = await w.tip();

        const res = await w.propose([latch('api', 20, 3)]);

        assert.equal(res.status, 'pushed');
        assert.equal(res.action, 'updated');
        assert.deepEqual(await w.subjects(), [
          'kube-latch: prod/Deployment/api replicas 3 → 20',
          'reviewer: note',
          'reviewer: annotate',
          'kube-latch: prod/Deployment/web replicas 2 → 10',
          'seed',
        ]);
        assert.equal((await git(w.bare, 'rev-parse', `${BRANCH}^`)).trim(), reviewed, 'the new commit sits on the reviewer\'s tip');
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(10, '# reviewed: 10 is right for the sale\n'));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
        assert.equal(await showFile(w.bare, BRANCH, 'NOTES.md'), 'web needs 10 during the sale\n');
        assert.equal(await showFile(w.bare, 'main', 'apps/web.yaml'), webFile(2), 'main untouched');
        assert.equal(res.others.length, 2);
        assert.deepEqual(res.outcomes.map((o) => o.status), ['written']);
        assert.deepEqual(res.proposed.map((o) => o.change.ref.name).sort(), ['api', 'web'], 'the PR still proposes web');
        assert.equal(w.open().length, 1, 'one PR');
        assert.equal(w.open()[0]!.title, 'kube-latch: 2 workloads relatched');
        assert.ok(w.open()[0]!.body.includes('| prod/Deployment/web | 10 | 1-4 | 2 → **10** |'), w.open()[0]!.body);
        assert.ok(w.open()[0]!.body.includes('| prod/Deployment/api | 20 | 2-6 | 3 → **20** |'), w.open()[0]!.body);
      });

      it('a value a reviewer set on the branch is kept: the same latch again pushes nothing; the lookup still reads main', async () => {
        const w = await world();
        await w.propose([latch('web', 10, 2), latch('api', 20, 3)]);
        await otherWriterCommit(w.bare, { 'apps/web.yaml': webFile(8) }, 'reviewer: 8 is enough', BRANCH);
        const tip = await w.tip();

        const again = await w.propose([latch('web', 10, 2), latch('api', 20, 3)]);

        assert.equal(again.status, 'up-to-date');
        assert.equal(await w.tip(), tip, 'nothing pushed');
        assert.deepEqual(again.outcomes.map((o) => o.status), ['stale', 'proposed'], 'api 20 is already proposed: no new write');
        assert.match(again.outcomes[0]!.reason!, /kube-latch\/eu-1 holds 8 at apps\/web\.yaml:4, set there by someone else; kept/);
        assert.deepEqual(again.proposed.map((o) => o.change.ref.name), ['api']);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(8));
        assert.ok(!w.open()[0]!.body.includes('prod/Deployment/web'), 'the PR body no longer claims web → 10');
      });

      it('a reviewer\'s push that lands between our fetch and our push fails the lease; the retry builds on it', async () => {
        let raced = false;
        let bare = '';
        const w = await world({
          retry: { baseDelayMs: 1, maxDelayMs: 2 },
          beforePush: async () => {
            if (!raced && (await git(bare, 'branch', '--list', BRANCH)).trim() !== '') {
              raced = true;
              await otherWriterCommit(bare, { 'NOTES.md': 'racing\n' }, 'reviewer: racing note', BRANCH);
            }
          },
        });
        bare = w.bare;
        await w.propose([latch('web', 10, 2)]);

        const res = await w.propose([latch('api', 20, 3)]);

        assert.ok(raced);
        assert.equal(res.status, 'pushed');
        assert.equal(res.attempts, 2);
        assert.deepEqual(await w.subjects(), [
          'kube-latch: prod/Deployment/api replicas 3 → 20',
          'reviewer: racing note',
          'kube-latch: prod/Deployment/web replicas 2 → 10',
          'seed',
        ]);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(10));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
      });

      it('a branch of kube-latch\'s own commits is still rebuilt as one commit on the new base', async () => {
        const w = await world();
        await w.propose([latch('web', 10, 2)]);
        await otherWriterCommit(w.bare, { 'README.md': 'main moved\n' }, 'main: readme');
        const res = await w.propose([latch('api', 20, 3)]);
        assert.equal(res.status, 'pushed');
        assert.deepEqual(res.others, []);
        assert.deepEqual(await w.subjects(), ['kube-latch: 2 workloads relatched', 'main: readme', 'seed']);
      });

      it('GitState: the latch in the PR stays written, one a reviewer overrode is not, and an Event says why', async () => {
        const w = await world();
        const state = await openGitState({
          mode: 'pr',
          cluster: 'eu-1',
          pullRequests: w.prs,
          url: `file://${w.bare}`,
          workDir: join(w.root, 'state'),
        });
        const due = (name: string, to: number, from: number): DueLatch => {
          const ref = { namespace: 'prod', kind: 'Deployment', name };
          const location = state.lookup(ref) as Located;
          return { ref, live: to, from, to, band: { lo: Math.ceil(from / 2), hi: from * 2 }, direction: 'up', dueAt: 0, location };
        };
        const web = due('web', 10, 2);
        const r1 = await state.write([web], { mayPush: () => true });
        assert.ok(r1.ok);
        assert.deepEqual(r1.written, [web]);
        await otherWriterCommit(w.bare, { 'apps/web.yaml': webFile(8) }, 'reviewer: 8 is enough', BRANCH);
        const api = due('api', 20, 3);
        const web2 = due('web', 10, 2);
        const r2 = await state.write([web2, api], { mayPush: () => true });
        assert.ok(r2.ok);
        assert.deepEqual(r2.written, [api], 'web → 10 is not on the remote any more: not written');
        assert.deepEqual(r2.unchanged, []);
        assert.deepEqual(r2.notices?.map((x) => [x.ref.name, x.reason]), [['web', 'LatchKeptBranchEdit']]);
        assert.match(r2.notices![0]!.message, /not proposing replicas 10: kube-latch\/eu-1 holds 8/);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(8));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
      });
    });

    describe('§3 PR lookup matches repository, source and target', () => {
      it('a fork\'s PR from a branch of the same name is not adopted: kube-latch opens its own', async () => {
        const w = await world();
        const foreign = w.stub.add({ head: BRANCH, base: 'main', fork: p.fork, title: 'fork: my change', body: 'from a fork' });
        assert.equal(await w.prs.find(BRANCH, 'main'), null);
        const res = await w.propose([latch('web', 10, 2)]);
        assert.equal(res.action, 'created');
        assert.notEqual(res.pr!.number, foreign.number);
        assert.equal(foreign.title, 'fork: my change', 'the fork\'s PR is not retitled');
        assert.equal(foreign.body, 'from a fork');
        const mine = w.stub.prs.find((x) => x.number === res.pr!.number)!;
        assert.equal(mine.fork, undefined);
        assert.equal(mine.base, 'main');
        assert.equal((await w.prs.find(BRANCH, 'main'))!.number, mine.number);
      });

      it('a PR from the same branch into another target is not adopted', async () => {
        const w = await world();
        const other = w.stub.add({ head: BRANCH, base: 'release-1', title: 'backport', body: 'into release-1' });
        const res = await w.propose([latch('web', 10, 2)]);
        assert.equal(res.action, 'created');
        assert.notEqual(res.pr!.number, other.number);
        assert.equal(other.title, 'backport');
        assert.equal(w.stub.prs.find((x) => x.number === res.pr!.number)!.base, 'main');
        const again = await w.propose([latch('api', 20, 3)]);
        assert.equal(again.action, 'updated');
        assert.equal(again.pr!.number, res.pr!.number);
        assert.equal(other.title, 'backport');
      });

      it('the list call filters by head and base as documented', async () => {
        const w = await world();
        await w.prs.find(BRANCH, 'main');
        const q = new URL(w.stub.requests.at(-1)!.path, 'https://x').searchParams;
        if (p.name === 'github') {
          assert.equal(q.get('head'), `acme:${BRANCH}`);
          assert.equal(q.get('base'), 'main');
        } else {
          assert.equal(q.get('source_branch'), BRANCH);
          assert.equal(q.get('target_branch'), 'main');
        }
      });
    });

    describe('§4 a PR closed without merging', () => {
      it('its latches are not carried over nor proposed again; a new latch gets a new PR that says nothing of them', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        w.stub.end(first.pr!.number, 'closed');

        const res = await w.propose([latch('api', 20, 3), latch('web', 10, 2)]);

        assert.equal(res.status, 'pushed');
        assert.equal(res.action, 'created');
        assert.notEqual(res.pr!.number, first.pr!.number);
        assert.deepEqual(res.outcomes.map((o) => o.status), ['written', 'rejected']);
        assert.deepEqual(res.rejected.map((o) => o.change.ref.name), ['web']);
        assert.match(res.rejected[0]!.reason!, /a human closed .*\/1 without merging it/);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(2));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
        assert.deepEqual(await w.subjects(), ['kube-latch: prod/Deployment/api replicas 3 → 20', 'seed']);
        const pr = w.open()[0]!;
        assert.equal(w.open().length, 1);
        assert.ok(!pr.body.includes('prod/Deployment/web'), pr.body);

        // The rejection outlives the closed PR: recorded on the branch, it still holds on the next write.
        const later = await w.propose([latch('web', 10, 2)]);
        assert.equal(later.status, 'up-to-date');
        assert.deepEqual(later.outcomes.map((o) => o.status), ['rejected']);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(2));

        // Another value is new information, and is proposed.
        const higher = await w.propose([latch('web', 50, 2)]);
        assert.equal(higher.status, 'pushed');
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(50));
        assert.equal(w.open().length, 1);
      });

      it('when the closed PR proposed only what is due again, nothing is pushed and no PR is opened; an Event says so', async () => {
        const w = await world();
        const state = await openGitState({ mode: 'pr', cluster: 'eu-1', pullRequests: w.prs, url: `file://${w.bare}`, workDir: join(w.root, 'state') });
        const ref = { namespace: 'prod', kind: 'Deployment', name: 'web' };
        const web: DueLatch = { ref, live: 10, from: 2, to: 10, band: { lo: 1, hi: 4 }, direction: 'up', dueAt: 0, location: state.lookup(ref) as Located };
        const r1 = await state.write([web], { mayPush: () => true });
        assert.ok(r1.ok);
        w.stub.end(w.stub.prs[0]!.number, 'closed');
        const tip = await w.tip();

        const r2 = await state.write([web], { mayPush: () => true });

        assert.ok(r2.ok);
        assert.deepEqual(r2.written, []);
        assert.deepEqual(r2.unchanged, []);
        assert.equal(r2.revision, undefined);
        assert.deepEqual(r2.notices?.map((x) => [x.ref.name, x.reason]), [['web', 'LatchRejected']]);
        assert.match(r2.notices![0]!.message, /kube-latch: replicas 10 not proposed: a human closed https:\/\/\S+ without merging it/);
        assert.equal(await w.tip(), tip);
        assert.equal(w.open().length, 0);
        assert.equal(w.stub.prs.length, 1);
      });

      it('the rejection ends when git declares another value: a latch computed from it is proposed', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        w.stub.end(first.pr!.number, 'closed');
        await w.propose([latch('api', 20, 3)]);
        await otherWriterCommit(w.bare, { 'apps/web.yaml': webFile(4) }, 'main: web 4');

        const res = await w.propose([latch('web', 10, 4)]);

        assert.equal(res.status, 'pushed');
        assert.deepEqual(res.outcomes.map((o) => o.status), ['written']);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(10));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
      });

      it('closed with its branch deleted: the "no" is read from the provider; the same value is not proposed again, another one is', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        w.stub.end(first.pr!.number, 'closed', { deleteBranch: true });
        assert.equal((await git(w.bare, 'branch', '--list', BRANCH)).trim(), '', 'the branch is gone');

        const again = await w.propose([latch('web', 10, 2)]);

        assert.equal(again.status, 'unchanged');
        assert.deepEqual(again.outcomes.map((o) => o.status), ['rejected']);
        assert.match(again.rejected[0]!.reason!, /a human closed .*\/1 without merging it/);
        assert.equal(w.stub.prs.length, 1, 'no second PR');
        assert.equal((await git(w.bare, 'branch', '--list', BRANCH)).trim(), '', 'nothing pushed');

        // Another workload's latch opens a new PR without the rejected value, and records the "no".
        const api = await w.propose([latch('api', 20, 3), latch('web', 10, 2)]);
        assert.equal(api.action, 'created');
        assert.deepEqual(api.outcomes.map((o) => o.status), ['written', 'rejected']);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(2));
        const still = await w.propose([latch('web', 10, 2)]);
        assert.deepEqual(still.outcomes.map((o) => o.status), ['rejected']);

        // Another value is new information, and is proposed.
        const higher = await w.propose([latch('web', 50, 2)]);
        assert.equal(higher.status, 'pushed');
        assert.deepEqual(higher.outcomes.map((o) => o.status), ['written']);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(50));
        assert.equal(w.open().length, 1);
      });

      it('closed with a reviewer\'s commit on the branch: the next proposal builds on it, never over it', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        const theirs = await otherWriterCommit(w.bare, { 'NOTES.md': 'web must not go to 10\n' }, 'reviewer: why not', BRANCH);
        w.stub.end(first.pr!.number, 'closed');

        const res = await w.propose([latch('api', 20, 3)]);

        assert.equal(res.status, 'pushed');
        assert.deepEqual(res.others, [theirs]);
        await git(w.bare, 'merge-base', '--is-ancestor', theirs, BRANCH); // throws when not reachable
        assert.equal(await showFile(w.bare, BRANCH, 'NOTES.md'), 'web must not go to 10\n');
        assert.equal(await showFile(w.bare, BRANCH, 'apps/api.yaml'), apiFile(20));
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(2), 'the rejected value is not proposed again');
        assert.deepEqual(res.rejected.map((o) => o.change.ref.name), ['web']);
        assert.equal(w.open().length, 1);
        assert.ok(!w.open()[0]!.body.includes('prod/Deployment/web'), w.open()[0]!.body);

        // And on the next write too: the branch keeps their commit, the rejection still holds.
        const later = await w.propose([latch('web', 10, 2), latch('api', 20, 3)]);
        assert.deepEqual(later.outcomes.map((o) => o.status), ['rejected', 'proposed']);
        await git(w.bare, 'merge-base', '--is-ancestor', theirs, BRANCH);
        assert.equal(await showFile(w.bare, BRANCH, 'apps/web.yaml'), webFile(2));
      });

      it('a one-off PR (a rollout revert, carryOver false) closed without merging is not opened again', async () => {
        const w = await world();
        const branch = 'kube-latch/eu-1-revert-prod-web';
        const revert = [{ type: 'field' as const, ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, path: ['metadata', 'annotations', 'kube-latch.io/rollout'], value: 'failed' }];
        const once = () => proposeChanges(w.repo, w.prs, revert, { branch, carryOver: false, title: 'revert web', body: 'the rollout failed' });
        const first = await once();
        assert.equal(first.action, 'created');
        w.stub.end(first.pr!.number, 'closed');
        const again = await once();
        assert.equal(again.status, 'unchanged');
        assert.deepEqual(again.outcomes.map((o) => o.status), ['rejected']);
        assert.equal(w.stub.prs.length, 1, 'no second revert PR');
      });

      it('after a merge (even squashed) the branch starts over from the base and nothing is rejected', async () => {
        const w = await world();
        const first = await w.propose([latch('web', 10, 2)]);
        await otherWriterCommit(w.bare, { 'apps/web.yaml': webFile(10) }, 'Squashed: web 10');
        w.stub.end(first.pr!.number, 'merged');

        const res = await w.propose([latch('api', 20, 3)]);

        assert.equal(res.status, 'pushed');
        assert.equal(res.action, 'created');
        assert.deepEqual(res.rejected, []);
        assert.deepEqual(await w.subjects(), ['kube-latch: prod/Deployment/api replicas 3 → 20', 'Squashed: web 10', 'seed']);
      });
    });
  });
}
