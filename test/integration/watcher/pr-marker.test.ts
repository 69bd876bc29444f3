// The engine over a real GitState (a clone of a real bare repo) and the GitHub API stub, on a manual
// clock: the marker and the write count follow what git or the open proposal holds (DESIGN §4):
// - a latch that the open PR already holds is no new write: no Event, no commit counted, no marker
//   patch, no API update, however many settle-up periods pass;
// - a push that reached the remote but whose answer was lost: the retry finds the value in git and
//   sets the marker all the same;
// - a PR closed unmerged: its markers are removed.
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
import { log, makeRemote, showFile, tmpDir } from '../git/helpers/repos.ts';
import { startGitHubStub, type Stub } from '../git/helpers/pr-stubs.ts';
import { makeTls } from '../git/helpers/tls.ts';

const S = 1000;
const TOKEN = 'api-token-0123456789';
const LATCHED = 'kube-latch.io/latched';
const webFile = (n: number) => `kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: ${n}\n`;

/** The real GitState, counting calls in progress so the test can wait for git between clock steps. */
function tracked(state: GitState, fault?: { loseAnswer: number }): GitState & { busy: () => boolean; writes: number } {
  let busy = 0;
  const g = {
    writes: 0,
    busy: () => busy > 0,
    lookup: (w: Parameters<GitState['lookup']>[0]) => state.lookup(w),
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

  async function world(mode: 'push' | 'pr', fault?: { loseAnswer: number }) {
    const dir = join(root, String(++n));
    const bare = await makeRemote(dir, { 'apps/web.yaml': webFile(20) });
    const tls = makeTls();
    const stub = await startGitHubStub(tls, TOKEN, 'acme', 'deploy', { bare });
    stubs.push(stub);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, TOKEN);
    const pullRequests = new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile, ca: tls.ca, repo: 'acme/deploy' });
    const base = { url: `file://${bare}`, workDir: join(dir, 'w'), author: 'Latch Bot <bot@example.com>' };
    const state: RepoGitState = await openGitState(mode === 'pr' ? { ...base, mode, cluster: 'eu-1', pullRequests } : { ...base, mode });
    const g = tracked(state, fault);
    const clock = new ManualClock();
    const events = new FakeEvents();
    const metrics = new WatcherMetrics();
    const marker = new MarkerOnLive(deployment('web', 47));
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
});
