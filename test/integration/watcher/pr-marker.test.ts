// The engine over a real GitState (a clone of a real bare repo) and the GitHub API stub, on a manual
// clock: the marker and the write count follow what git or the open proposal holds (DESIGN §4):
// - a latch that the open PR already holds is no new write: no Event, no commit counted, no marker
//   patch, no API update, however many settle-up periods pass;
// - a push that reached the remote but whose answer was lost: the retry finds the value in git and
//   sets the marker all the same;
// - a PR closed unmerged: its markers are removed, also while nothing falls due (the periodic refresh);
// - a restart after a push whose mark was lost: the sync marks git's value, when kube-latch's own commit
//   wrote it, and never a value a human put in git.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitState, type RepoGitState } from '../../../src/git/git-state.ts';
import { GitHubPullRequests } from '../../../src/git/pr/index.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine } from '../../../src/watcher/engine.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import type { EventTarget, GitState, LatchMarker, WorkloadObservation } from '../../../src/watcher/types.ts';
import { waitFor } from '../../e2e/helpers/cluster.ts';
import { deployment, FakeEvents, FakeLeadership, silent } from '../../unit/watcher/fakes.ts';
import { log, makeRemote, otherWriterCommit, showFile, tmpDir } from '../git/helpers/repos.ts';
import { startGitHubStub, type Stub } from '../git/helpers/pr-stubs.ts';
import { makeTls } from '../git/helpers/tls.ts';

const S = 1000;
const TOKEN = 'api-token-0123456789';
const LATCHED = 'kube-latch.io/latched';
const DECLARED = 'kube-latch.io/declared';
const webFile = (n: number) => `kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: ${n}\n`;

/** The real GitState, counting calls in progress so the test can wait for git between clock steps. */
function tracked(state: GitState, fault?: { loseAnswer: number }): GitState & { busy: () => boolean; writes: number } {
  let busy = 0;
  const during = async <T>(p: Promise<T>): Promise<T> => {
    busy++;
    try {
      return await p;
    } finally {
      busy--;
    }
  };
  const g = {
    writes: 0,
    busy: () => busy > 0,
    lookup: (w: Parameters<GitState['lookup']>[0]) => state.lookup(w),
    ownLatches: (file: string) => during(state.ownLatches!(file)),
    ...(state.withdrawn ? { withdrawn: () => during(state.withdrawn!()) } : {}),
    async refresh() {
      busy++;
      try {
        await state.refresh();
      } finally {
        busy--;
      }
    },
    async write(latches: Parameters<GitState['write']>[0], opts: Parameters<GitState['write']>[1]) {
      busy++;
      try {
        const r = await state.write(latches, opts);
        g.writes++;
        // The push landed on the remote, but its answer never reached the caller.
        if (fault && g.writes <= fault.loseAnswer) return { ok: false as const, error: 'push: the connection was reset after the remote accepted it' };
        return r;
      } finally {
        busy--;
      }
    },
  };
  return g;
}

/**
 * Records every marker patch and removal, and plays the informer: the engine then sees the workload
 * with the annotation as the apiserver would show it.
 */
class MarkerOnLive implements LatchMarker {
  readonly marks: number[] = [];
  readonly unmarks: number[] = [];
  engine: Engine | undefined;
  private obs: WorkloadObservation;
  constructor(obs: WorkloadObservation) {
    this.obs = obs;
  }
  set live(obs: WorkloadObservation) {
    this.obs = obs;
    this.engine?.upsertWorkload(obs);
  }
  get live(): WorkloadObservation {
    return this.obs;
  }
  async mark(_t: EventTarget, latchPoint: number): Promise<void> {
    this.marks.push(latchPoint);
    this.live = { ...this.obs, annotations: { ...this.obs.annotations, [LATCHED]: String(latchPoint) } };
  }
  async unmark(_t: EventTarget): Promise<void> {
    this.unmarks.push(1);
    const { [LATCHED]: _gone, ...rest } = this.obs.annotations;
    this.live = { ...this.obs, annotations: rest };
  }
}

async function metric(m: WatcherMetrics, name: string): Promise<number | undefined> {
  return (await m.registry.getMetricsAsJSON()).find((x) => x.name === name)?.values[0]?.value;
}

describe('watcher: the marker and the write count follow git and the open proposal', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  const stubs: Stub[] = [];
  let n = 0;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-pr-marker-'));
  });
  after(async () => {
    for (const s of stubs) await s.stop();
    await cleanup();
  });

  const AUTHOR = 'Latch Bot <bot@example.com>';

  /** A watcher that pushed 20 → 50 and crashed before its marker patch: git holds its commit, nothing else. */
  async function crashedAfterPush(bare: string, dir: string): Promise<void> {
    const before = await openGitState({ url: `file://${bare}`, workDir: join(dir, 'crashed'), author: AUTHOR, mode: 'push' });
    const location = before.lookup({ namespace: 'prod', kind: 'Deployment', name: 'web' });
    assert.ok(location.found);
    const r = await before.write(
      [{ ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, live: 47, from: 20, band: { lo: 10, hi: 40 }, to: 50, direction: 'up', dueAt: 0, location }],
      { mayPush: () => true },
    );
    assert.ok(r.ok && r.written.length === 1);
  }

  interface WorldOptions {
    fault?: { loseAnswer: number };
    /** the workload as the informer first shows it (default web, live 47, no annotations) */
    live?: WorkloadObservation;
    /** what happened to the remote before this watcher started */
    before?: (bare: string, dir: string) => Promise<void>;
  }

  async function world(mode: 'push' | 'pr', o: WorldOptions | { loseAnswer: number } = {}) {
    const { fault, live, before: prepare } = 'loseAnswer' in o ? { fault: o, live: undefined, before: undefined } : o;
    const dir = join(root, String(++n));
    const bare = await makeRemote(dir, { 'apps/web.yaml': webFile(20) });
    await prepare?.(bare, dir);
    const tls = makeTls();
    const stub = await startGitHubStub(tls, TOKEN, 'acme', 'deploy', { bare });
    stubs.push(stub);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, TOKEN);
    const pullRequests = new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile, ca: tls.ca, repo: 'acme/deploy' });
    const base = { url: `file://${bare}`, workDir: join(dir, 'w'), author: AUTHOR };
    const state: RepoGitState = await openGitState(mode === 'pr' ? { ...base, mode, cluster: 'eu-1', pullRequests } : { ...base, mode });
    const g = tracked(state, fault);
    const clock = new ManualClock();
    const events = new FakeEvents();
    const metrics = new WatcherMetrics();
    const marker = new MarkerOnLive(live ?? deployment('web', 47));
    const engine = new Engine(
      { settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {}, refreshMs: 30 * S, retryBaseMs: 5 * S },
      { git: g, leadership: new FakeLeadership(true), events, metrics, marker, clock, logger: silent },
    );
    marker.engine = engine;
    await engine.start();
    engine.upsertWorkload(marker.live);
    /** Moves the clock in 5 s steps, letting each git call finish before time moves on. */
    const run = async (ms: number) => {
      for (let t = 0; t < ms; t += 5 * S) {
        await clock.advance(5 * S);
        await waitFor('git idle', () => !g.busy(), { timeoutMs: 30_000, intervalMs: 5 });
      }
    };
    return { bare, stub, g, engine, events, metrics, marker, run };
  }

  it('pr mode, live steady at 47, git at 20, 10 minutes: one LatchWritten, one commit counted, one marker patch, no PR update', async () => {
    const w = await world('pr');
    await w.run(600 * S);
    assert.ok(w.g.writes >= 5, `the latch fell due again every settle-up (${w.g.writes} writes)`);
    assert.equal(w.events.events.filter((e) => e.reason === 'LatchWritten').length, 1);
    assert.equal(await metric(w.metrics, 'kube_latch_watcher_commits_total'), 1);
    assert.deepEqual(w.marker.marks, [50]);
    assert.equal(w.stub.prs.length, 1);
    assert.equal(w.stub.requests.filter((r) => r.method === 'POST').length, 1, 'one create');
    assert.equal(w.stub.requests.filter((r) => r.method === 'PATCH').length, 0, 'no PR update');
    assert.equal((await log(w.bare, 'kube-latch/eu-1')).length, 2, 'one commit on the branch');
    await w.engine.stop();
  });

  it('push mode, the push lands but its answer is lost: the retry finds 50 in git and sets the marker', async () => {
    const w = await world('push', { loseAnswer: 1 });
    await w.run(120 * S);
    assert.match(await showFile(w.bare, 'main', 'apps/web.yaml'), /replicas: 50/);
    assert.equal((await log(w.bare)).length, 2, 'pushed once');
    assert.deepEqual(w.marker.marks, [50]);
    assert.equal(w.marker.live.annotations[LATCHED], '50');
    await w.run(300 * S);
    assert.deepEqual(w.marker.marks, [50], 'set once, not on every tick');
    await w.engine.stop();
  });

  it('pr mode, the PR is closed unmerged: its marker is removed, and nothing is proposed again', async () => {
    const w = await world('pr');
    await w.run(120 * S);
    assert.deepEqual(w.marker.marks, [50]);
    w.stub.end(w.stub.prs[0]!.number, 'closed');
    await w.run(180 * S);
    assert.equal(w.marker.live.annotations[LATCHED], undefined, 'the marker of the rejected proposal is gone');
    assert.equal(w.marker.unmarks.length, 1);
    assert.deepEqual(w.marker.marks, [50]);
    assert.equal(w.stub.prs.length, 1, 'no second PR');
    assert.equal(w.events.events.filter((e) => e.reason === 'LatchWritten').length, 1);
    await w.engine.stop();
  });

  it('pr mode, the PR is closed unmerged while nothing is due: the next refresh removes its marker, without any write', async () => {
    const w = await world('pr');
    await w.run(120 * S);
    assert.deepEqual(w.marker.marks, [50]);
    // Back in band before anyone reviews the PR: nothing falls due from here on.
    w.marker.live = { ...w.marker.live, replicas: 20 };
    await w.run(30 * S);
    const writes = w.g.writes;
    w.stub.end(w.stub.prs[0]!.number, 'closed');
    await w.run(60 * S);
    assert.equal(w.marker.live.annotations[LATCHED], undefined, 'the marker of the rejected proposal is gone');
    assert.equal(w.marker.unmarks.length, 1);
    assert.equal(w.g.writes, writes, 'no latch fell due, nothing was written');
    await w.run(300 * S);
    assert.equal(w.marker.unmarks.length, 1, 'removed once');
    assert.deepEqual(w.marker.marks, [50]);
    await w.engine.stop();
  });

  it('push mode, a restart after kube-latch pushed 20 → 50 and crashed before the mark: the first sync marks 50, once', async () => {
    const w = await world('push', { before: crashedAfterPush, live: deployment('web', 50, { [DECLARED]: '20' }) });
    await w.run(60 * S);
    assert.deepEqual(w.marker.marks, [50]);
    assert.equal(w.marker.live.annotations[LATCHED], '50');
    assert.equal(w.g.writes, 0, 'git holds it: nothing to write');
    await w.run(300 * S);
    assert.deepEqual(w.marker.marks, [50], 'set once');
    await w.engine.stop();
  });

  it('push mode, a human changed git after kube-latch’s push: the human’s value is not marked', async () => {
    const human = async (bare: string, dir: string) => {
      await crashedAfterPush(bare, dir);
      await otherWriterCommit(bare, { 'apps/web.yaml': webFile(30) }, 'web: 30 by hand');
    };
    const w = await world('push', { before: human, live: deployment('web', 30, { [DECLARED]: '20' }) });
    await w.run(300 * S);
    assert.match(await showFile(w.bare, 'main', 'apps/web.yaml'), /replicas: 30/);
    assert.deepEqual(w.marker.marks, []);
    assert.equal(w.marker.live.annotations[LATCHED], undefined);
    await w.engine.stop();
  });
});
