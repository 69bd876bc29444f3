// The watcher's git path end to end, without a cluster: the engine over a real GitState (a clone of a
// real bare repo). The ambiguity cases of DESIGN §4 are committed as real files
// (test/fixtures/git/ambiguous); nothing of theirs is pushed, and each workload's Event and metric name
// file:line. And a standby whose clone is behind the remote takes the lease: it fetches before its first
// write, writes nothing the remote already holds, and builds on the remote's tip.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitState, type RepoGitState } from '../../../src/git/git-state.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine } from '../../../src/watcher/engine.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import type { DueLatch, GitState } from '../../../src/watcher/types.ts';
import { waitFor } from '../../e2e/helpers/cluster.ts';
import { deployment, FakeEvents, FakeLeadership, silent } from '../../unit/watcher/fakes.ts';
import { git, log, makeRemote, otherWriterCommit, showFile, tmpDir } from '../git/helpers/repos.ts';

const S = 1000;
const FIXTURE = join(import.meta.dirname, '../../fixtures/git/ambiguous');

function readTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[relative(root, join(e.parentPath, e.name))] = readFileSync(join(e.parentPath, e.name), 'utf8');
  }
  return out;
}

/** The real GitState, with a record of the calls the engine makes and whether one is in progress. */
function recorded(state: RepoGitState): GitState & { calls: string[]; writes: DueLatch[][]; busy: () => boolean } {
  let busy = 0;
  const calls: string[] = [];
  const writes: DueLatch[][] = [];
  const track = async <T>(what: string, p: () => Promise<T>): Promise<T> => {
    busy++;
    calls.push(what);
    try {
      return await p();
    } finally {
      busy--;
    }
  };
  return {
    calls,
    writes,
    busy: () => busy > 0,
    refresh: () => track('refresh', () => state.refresh()),
    lookup: (w) => state.lookup(w),
    write: (latches, opts) => {
      writes.push([...latches]);
      return track('write', () => state.write(latches, opts));
    },
  };
}

function engineOn(g: GitState, clock: ManualClock, leader: FakeLeadership) {
  const events = new FakeEvents();
  const metrics = new WatcherMetrics();
  const engine = new Engine(
    { settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {}, refreshMs: 86_400 * S },
    { git: g, leadership: leader, events, metrics, clock, logger: silent },
  );
  return { engine, events, metrics };
}

// workload → the file:line its Event and metric must name, and why
const cases: { name: string; ns?: string; source?: string; at: string; says: RegExp }[] = [
  { name: 'flow', at: 'helm/values.yaml:8', says: /no replicas key of its own/ },
  { name: 'anchored', at: 'helm/values.yaml:3', says: /anchor \(&common, line 2\)/ },
  { name: 'canary', at: 'helm/values.yaml:7', says: /merge key \(<<, line 6\)/ },
  { name: 'aliased', at: 'apps/alias.yaml:8', says: /alias \(\*count\)/ },
  { name: 'merged', at: 'apps/merge.yaml:9', says: /merge key \(<<\) at line 9/ },
  { name: 'octal', at: 'apps/numbers.yaml:9', says: /020, not a plain decimal integer/ },
  { name: 'hex', at: 'apps/numbers.yaml:17', says: /0x14, not a plain decimal integer/ },
  { name: 'exponent', at: 'apps/numbers.yaml:25', says: /1e2, not a plain decimal integer/ },
  { name: 'quoted', at: 'apps/numbers.yaml:33', says: /"4", not a plain decimal integer/ },
  { name: 'shared', ns: 'prod', at: 'base/shared.yaml:7', says: /base\/shared\.yaml:7 is also the replicas line of staging\/Deployment\/shared/ },
  { name: 'shared', ns: 'staging', at: 'base/shared.yaml:7', says: /base\/shared\.yaml:7 is also the replicas line of prod\/Deployment\/shared/ },
  { name: 'one', source: 'values/shared.yaml', at: 'values/shared.yaml:3', says: /values\/shared\.yaml:3 is also the replicas line of prod\/Deployment\/two/ },
  { name: 'two', source: 'values/shared.yaml', at: 'values/shared.yaml:3', says: /values\/shared\.yaml:3 is also the replicas line of prod\/Deployment\/one/ },
];

describe('watcher git path: ambiguous locations in a real repo', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-ambiguous-'));
  });
  after(() => cleanup());

  it('nothing of theirs is pushed; each gets an Event, a log line and a metric naming file:line', async () => {
    const files = readTree(FIXTURE);
    const bare = await makeRemote(root, files);
    const g = recorded(await openGitState({ mode: 'push', url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' }));
    const clock = new ManualClock();
    const { engine, events, metrics } = engineOn(g, clock, new FakeLeadership(true));
    await engine.start();
    // far out of band for every one of them; `control` is the one writable workload, the proof that writes happen
    engine.upsertWorkload(deployment('control', 9));
    for (const c of cases) engine.upsertWorkload(deployment(c.name, 100, c.source ? { 'kube-latch.io/source': c.source } : {}, c.ns ?? 'prod'));
    await clock.advance(70 * S);
    await waitFor('the control latch on the remote', async () => !g.busy() && (await log(bare)).length === 2, { timeoutMs: 30_000, intervalMs: 20 });
    await clock.advance(3600 * S);
    await waitFor('the engine to be idle', () => !g.busy(), { timeoutMs: 30_000, intervalMs: 20 });

    const commits = await log(bare);
    assert.equal(commits.length, 2, 'one commit: the control latch');
    assert.match(commits[0]!.subject, /^kube-latch: prod\/Deployment\/control replicas 2 → \d+$/);
    assert.equal((await git(bare, 'diff', '--name-only', commits[1]!.sha, commits[0]!.sha)).trim(), 'apps/control.yaml');
    for (const [file, text] of Object.entries(files)) if (file !== 'apps/control.yaml') assert.equal(await showFile(bare, 'main', file), text, `${file} untouched`);
    assert.deepEqual(g.writes.flat().map((l) => l.ref.name), ['control'], 'no latch of theirs ever reached write()');

    const info = (await metrics.registry.getSingleMetric('kube_latch_watcher_unlocated_workload_info')!.get()).values;
    for (const c of cases) {
      const workload = `${c.ns ?? 'prod'}/Deployment/${c.name}`;
      const ev = events.events.filter((e) => e.reason === 'LatchTargetAmbiguous' && `${e.target.namespace}/${e.target.kind}/${e.target.name}` === workload);
      assert.ok(ev.length >= 1, `an Event on ${workload}`);
      assert.equal(ev[0]!.type, 'Warning');
      assert.ok(ev[0]!.message.includes(c.at), `${workload}: "${ev[0]!.message}" names ${c.at}`);
      assert.match(ev[0]!.message, c.says);
      assert.match(ev[0]!.message, /; nothing written$/);
      const series = info.filter((v) => v.labels['workload'] === workload);
      assert.deepEqual(series.map((v) => [v.labels['reason'], v.labels['candidates'], v.value]), [['ambiguous', c.at, 1]], `${workload}: metric`);
    }
    const gauge = (await metrics.registry.getSingleMetric('kube_latch_watcher_unlocated_workloads')!.get()).values;
    assert.equal(gauge.find((v) => v.labels['reason'] === 'ambiguous')?.value, cases.length);
    await engine.stop();
  });
});

describe('watcher git path: a standby that takes the lease fetches git before its first write', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: root, cleanup } = await tmpDir('kl-standby-'));
  });
  after(() => cleanup());

  it('writes nothing the remote already holds, and builds on the remote tip', async () => {
    const files = {
      'apps/web.yaml': 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 20\n',
      'apps/db.yaml': 'kind: Deployment\nmetadata: {name: db, namespace: prod}\nspec:\n  replicas: 5\n',
      'README.md': 'deploy repo\n',
    };
    const bare = await makeRemote(root, files);
    const open = (w: string) => openGitState({ mode: 'push', url: `file://${bare}`, workDir: join(root, w), author: 'Latch Bot <bot@example.com>' });
    const clock = new ManualClock();
    const [ga, gb] = [recorded(await open('a')), recorded(await open('b'))];
    const la = new FakeLeadership(true);
    const lb = new FakeLeadership(false);
    const a = engineOn(ga, clock, la);
    const b = engineOn(gb, clock, lb);
    await a.engine.start();
    await b.engine.start();
    const idle = () => waitFor('both engines idle', () => !ga.busy() && !gb.busy(), { timeoutMs: 30_000, intervalMs: 20 });

    // Both replicas see web leave its band; the leader latches 20 → 50, the standby keeps the same latch pending.
    for (const e of [a.engine, b.engine]) {
      e.upsertWorkload(deployment('web', 47));
      e.upsertWorkload(deployment('db', 5));
    }
    await clock.advance(70 * S);
    await waitFor('the leader\'s push', async () => (await log(bare)).length === 2, { timeoutMs: 30_000, intervalMs: 20 });
    await idle();
    const leaderCommit = (await log(bare))[0]!;
    assert.equal(leaderCommit.subject, 'kube-latch: prod/Deployment/web replicas 20 → 50');
    assert.deepEqual(b.engine.pendingLatches().map((l) => [l.ref.name, l.from, l.to]), [['web', 20, 50]], 'the standby holds the same latch');
    assert.equal(gb.lookup({ namespace: 'prod', kind: 'Deployment', name: 'web' }).found && (gb.lookup({ namespace: 'prod', kind: 'Deployment', name: 'web' }) as { declared: number }).declared, 20, "the standby's clone is behind");
    // Someone else commits too, so the remote tip is neither clone's HEAD.
    await otherWriterCommit(bare, { 'README.md': 'deploy repo, edited\n' }, 'docs: readme');

    // Handover: the standby takes the lease with its stale clone and its stale pending latch.
    const callsBefore = gb.calls.length;
    la.set(false);
    lb.set(true);
    await clock.advance(1 * S);
    await idle();
    assert.equal(gb.calls[callsBefore], 'refresh', 'the first git call after taking the lease is a fetch');
    assert.equal(gb.writes.length, 0, 'the latch the remote already holds is never written');
    assert.equal((await log(bare)).length, 3, 'nothing pushed');
    assert.deepEqual(b.engine.pendingLatches(), []);

    // Its first real write goes on top of the remote tip and keeps the other writers' work.
    a.engine.upsertWorkload(deployment('db', 20));
    b.engine.upsertWorkload(deployment('db', 20));
    await clock.advance(70 * S);
    await waitFor('the new leader\'s push', async () => (await log(bare)).length === 4, { timeoutMs: 30_000, intervalMs: 20 });
    await idle();
    const commits = await log(bare);
    assert.deepEqual(commits.map((c) => c.subject), ['kube-latch: prod/Deployment/db replicas 5 → 20', 'docs: readme', leaderCommit.subject, 'seed']);
    assert.equal((await git(bare, 'rev-parse', `${commits[0]!.sha}^`)).trim(), commits[1]!.sha, 'built on the remote tip, no merge');
    assert.match(await showFile(bare, 'main', 'apps/web.yaml'), /replicas: 50\n/);
    assert.equal(await showFile(bare, 'main', 'README.md'), 'deploy repo, edited\n');
    assert.deepEqual(gb.writes.flat().map((l) => [l.ref.name, l.from, l.to]), [['db', 5, 20]]);
    assert.deepEqual(ga.writes.flat().map((l) => l.ref.name), ['web'], 'the old leader wrote nothing after losing the lease');
    await a.engine.stop();
    await b.engine.stop();
  });
});
