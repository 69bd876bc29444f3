import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Latcher, RolloutMetrics } from '../../../src/rollout/latcher.ts';
import { FakeEvents, FakeLeadership, silent } from '../watcher/fakes.ts';
import { FakeRolloutGit } from './fake-git.ts';
import { deploy, rs } from './objects.ts';

const WINDOW = 10_000;

const manifest = (image: string, annotation?: string, pool = 'kwok') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
${annotation !== undefined ? `  annotations:\n    kube-latch.io/rollout: ${annotation}\n` : ''}  labels: {kube-latch.io/enabled: "true"}
spec:
  replicas: 4
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector: {pool: ${pool}}
      containers:
        - name: app
          image: ${image}
`;

function setup(mode: 'push' | 'pr', files: Record<string, string> = { 'apps/web.yaml': manifest('reg/web:1', 'complete') }, leader = true) {
  const clock = new ManualClock();
  const git = new FakeRolloutGit(mode, files);
  const leadership = new FakeLeadership(leader);
  const events = new FakeEvents();
  const metrics = new RolloutMetrics(new Registry());
  const latcher = new Latcher({ batchWindowMs: WINDOW }, { git, leadership, events, metrics, clock, logger: silent });
  latcher.start();
  return { clock, git, leadership, events, metrics, latcher };
}

type Setup = ReturnType<typeof setup>;

/** Feeds the latcher a rollout of revision 2 (image reg/web:2) at `available` new pods of 4, or its end. */
function show(s: Setup, step: number | 'complete' | 'failed', o: { image?: string; rev?: number; pool?: string } = {}) {
  const rev = o.rev ?? 2;
  const image = o.image ?? 'reg/web:2';
  const template = { images: { app: image } };
  const reason = step === 'complete' ? 'NewReplicaSetAvailable' : step === 'failed' ? 'ProgressDeadlineExceeded' : 'ReplicaSetUpdated';
  const d = deploy({ rev, ...template, reason, status: step === 'failed' ? 'False' : 'True', message: step === 'failed' ? `ReplicaSet "web-${rev}" has timed out progressing.` : 'progressing', progressDeadlineSeconds: 30 });
  if (o.pool) d.spec.template.spec.nodeSelector = { pool: o.pool };
  const n = typeof step === 'number' ? step : step === 'complete' ? 4 : 0;
  s.latcher.upsertReplicaSet(rs({ rev: rev - 1, desired: step === 'complete' ? 0 : 4 - n, images: { app: 'reg/web:1' } }));
  s.latcher.upsertReplicaSet(rs({ rev, desired: Math.min(4, n + 1), available: n, ready: n, images: template.images }));
  s.latcher.upsertDeployment(d);
}

describe('Latcher: milestones into git', () => {
  it('a rollout whose steps are a batch window apart leaves one commit per milestone, ending at complete', async () => {
    const s = setup('push');
    show(s, 'complete', { rev: 1, image: 'reg/web:1' });
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 1, 'complete is already in git: no commit');

    for (const step of [0, 1, 2, 3, 'complete'] as const) {
      show(s, step);
      await s.clock.advance(WINDOW + 1);
    }
    const messages = s.git.commits.slice(1).map((c) => /kube-latch\.io\/rollout: (.*)/.exec(c.files.get('apps/web.yaml')!)![1]);
    assert.deepEqual(messages, [
      'rev=2 images=app=reg/web:2 milestone=started',
      'rev=2 images=app=reg/web:2 milestone=25%',
      'rev=2 images=app=reg/web:2 milestone=50%',
      'rev=2 images=app=reg/web:2 milestone=75%',
      'complete',
    ]);
    assert.equal(s.latcher.written.length, 5);
    for (const w of s.latcher.written) assert.equal(w.writtenAt - w.observedAt, WINDOW, 'written one batch window after it was seen');
    assert.ok(s.events.events.some((e) => e.reason === 'RolloutMilestoneWritten' && e.message.includes('milestone=50%')));
    const text = await s.metrics.milestones.get();
    assert.deepEqual(Object.fromEntries(text.values.map((v) => [v.labels.milestone, v.value])), { started: 1, '25%': 1, '50%': 1, '75%': 1, complete: 1 });
    assert.equal((await s.metrics.pending.get()).values[0]?.value, 0, 'nothing pending once every milestone is written');
  });

  it('milestones within one batch window share one commit holding the newest', async () => {
    const s = setup('push');
    show(s, 0);
    await s.clock.advance(3000);
    show(s, 1);
    await s.clock.advance(3000);
    show(s, 2);
    await s.clock.advance(WINDOW);
    assert.equal(s.git.commits.length, 2);
    assert.equal(s.git.annotation(), 'rev=2 images=app=reg/web:2 milestone=50%');
    assert.equal(s.latcher.written.length, 1);
    assert.equal(s.latcher.written[0]!.writtenAt - s.latcher.written[0]!.observedAt, WINDOW - 6000, 'latency counts from when the written value was seen');
    assert.equal(s.latcher.written[0]!.writtenAt - s.latcher.written[0]!.since, WINDOW, 'the batch is anchored at the oldest milestone it settles');
  });

  it('a milestone seen while the previous one is being pushed is written after it, even if git held it before', async () => {
    const s = setup('push'); // git holds complete
    show(s, 'complete', { rev: 1, image: 'reg/web:1' });
    await s.clock.advance(WINDOW + 1);
    let release!: () => void;
    s.git.writeGate = new Promise((r) => (release = r));
    show(s, 3);
    await s.clock.advance(WINDOW + 1); // the 75% write is in flight
    show(s, 'complete'); // git still says complete, but is about to say 75%
    release();
    await s.clock.advance(WINDOW + 1);
    assert.deepEqual(s.git.commits.slice(1).map((c) => /rollout: (.*)/.exec(c.files.get('apps/web.yaml')!)![1]), ['rev=2 images=app=reg/web:2 milestone=75%', 'complete']);
  });

  it('the same milestone seen again writes nothing; a restarted latcher finds it in git and writes nothing', async () => {
    const s = setup('push');
    show(s, 2);
    await s.clock.advance(WINDOW + 1);
    show(s, 2);
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 2);
    const syncs = s.git.syncs;
    show(s, 2);
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.syncs, syncs, 'not even a fetch for a value known to be in git');

    const again = new Latcher({ batchWindowMs: WINDOW }, { git: s.git, leadership: s.leadership, events: s.events, clock: s.clock, logger: silent, metrics: new RolloutMetrics(new Registry()) });
    again.start();
    again.upsertReplicaSet(rs({ rev: 1, desired: 2, images: { app: 'reg/web:1' } }));
    again.upsertReplicaSet(rs({ rev: 2, desired: 3, available: 2, images: { app: 'reg/web:2' } }));
    again.upsertDeployment(deploy({ rev: 2, images: { app: 'reg/web:2' }, reason: 'ReplicaSetUpdated' }));
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 2, 'no empty or repeated commit');
  });

  it('complete on a manifest without the annotation writes nothing: enabling the feature touches no file', async () => {
    const s = setup('push', { 'apps/web.yaml': manifest('reg/web:1') });
    show(s, 'complete', { rev: 1, image: 'reg/web:1' });
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 1);
    // a rollout then inserts the annotations map
    show(s, 1);
    await s.clock.advance(WINDOW + 1);
    assert.match(s.git.tip.get('apps/web.yaml')!, /metadata:\n  annotations:\n    kube-latch\.io\/rollout: rev=2 images=app=reg\/web:2 milestone=25%\n  name: web\n/);
  });

  it('a follower keeps milestones pending and records no Events; it writes once it leads', async () => {
    const s = setup('push', undefined, false);
    show(s, 'failed');
    await s.clock.advance(WINDOW * 3);
    assert.equal(s.git.commits.length, 1);
    assert.equal(s.events.events.length, 0);
    assert.deepEqual(s.latcher.pendingValues().map((p) => p.value), ['rev=2 images=app=reg/web:2 milestone=failed']);
    s.leadership.set(true);
    await s.clock.advance(1);
    assert.equal(s.git.annotation(), 'rev=2 images=app=reg/web:2 milestone=failed');
    assert.ok(s.events.reasons().includes('RolloutFailed'));
  });

  it('a flush that finds leadership lapsed without a transition is retried by the tick', async () => {
    const s = setup('push');
    let lapsed = true;
    const real = s.leadership.isLeader.bind(s.leadership);
    s.leadership.isLeader = () => real() && !(lapsed && s.clock.now() >= 1_700_000_000_000 + WINDOW);
    show(s, 1);
    await s.clock.advance(WINDOW + 1); // the flush finds no leadership; no onChange follows
    assert.equal(s.git.commits.length, 1);
    lapsed = false;
    await s.clock.advance(15_000);
    assert.equal(s.git.annotation(), 'rev=2 images=app=reg/web:2 milestone=25%');
  });

  it('losing leadership before the push keeps the milestone pending', async () => {
    const s = setup('push');
    s.git.notLeaderOnWrite = true;
    show(s, 1);
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 1);
    assert.equal(s.latcher.pendingValues().length, 1);
  });

  it('a remote that is down is retried with backoff, and the newest milestone lands', async () => {
    const s = setup('push');
    s.git.failSyncs = 2;
    s.git.failWrites = 1;
    show(s, 1);
    await s.clock.advance(WINDOW + 1); // fetch fails, retry in 1 s
    await s.clock.advance(1000); // fetch fails, retry in 2 s
    show(s, 2);
    await s.clock.advance(2000); // fetch ok, write fails, retry in 4 s
    assert.equal(s.git.commits.length, 1);
    await s.clock.advance(4000);
    assert.equal(s.git.commits.length, 2);
    assert.equal(s.git.annotation(), 'rev=2 images=app=reg/web:2 milestone=50%');
    assert.equal((await s.metrics.failures.get()).values[0]!.value, 3);
  });

  it('a Deployment git does not declare gets a Warning Event once, and is not retried for the same milestone', async () => {
    const s = setup('push', { 'apps/other.yaml': manifest('x').replace('name: web', 'name: other') });
    show(s, 1);
    await s.clock.advance(WINDOW + 1);
    const syncs = s.git.syncs;
    show(s, 1);
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.syncs, syncs);
    assert.deepEqual(s.events.events.filter((e) => e.reason === 'RolloutTargetNotFound').length, 1);
    show(s, 2);
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.events.events.filter((e) => e.reason === 'RolloutTargetNotFound').length, 2, 'a new milestone tries again');
  });

  it('a removed Deployment drops its pending milestone', async () => {
    const s = setup('push');
    show(s, 1);
    s.latcher.removeDeployment(deploy());
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.commits.length, 1);
    assert.equal(s.latcher.pendingValues().length, 0);
  });

  it('push mode: a failed rollout writes only the annotation, with a RolloutFailed Warning', async () => {
    const s = setup('push');
    show(s, 'failed');
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.annotation(), 'rev=2 images=app=reg/web:2 milestone=failed');
    assert.equal(s.git.proposals.length, 0);
    const ev = s.events.events.find((e) => e.reason === 'RolloutFailed');
    assert.equal(ev?.type, 'Warning');
    assert.equal(ev?.message, 'kube-latch: rollout of revision 2 failed: ReplicaSet "web-2" has timed out progressing.');
  });

  it('the Event for a Deployment rebuilt from git whose template git records as failed', async () => {
    const s = setup('push');
    const d = deploy({ rev: 1, images: { app: 'reg/web:2' }, annotations: { 'kube-latch.io/rollout': 'rev=7 images=app=reg/web:2 milestone=failed' }, reason: 'NewReplicaSetCreated' });
    s.latcher.upsertDeployment(d);
    const ev = s.events.events.find((e) => e.reason === 'RolloutFailedBefore');
    assert.equal(ev?.type, 'Warning');
    assert.match(ev!.message, /failed its rollout \(revision 7\); it was applied as is, not blocked or changed/);
    // the same record on the Deployment whose failure it is (revision 7 itself): no such Event
    const t = setup('push');
    t.latcher.upsertDeployment(deploy({ rev: 7, images: { app: 'reg/web:2' }, annotations: { 'kube-latch.io/rollout': 'rev=7 images=app=reg/web:2 milestone=failed' } }));
    assert.equal(t.events.events.filter((e) => e.reason === 'RolloutFailedBefore').length, 0);
  });
});

describe('Latcher: revert PR for a failed rollout (pr mode)', () => {
  /** History: v1 complete; a human commits v2 with pool gpu (annotation still complete); the rollout fails. */
  function failedSetup(v2Pool = 'gpu', extra = '') {
    const s = setup('pr', { 'apps/web.yaml': manifest('reg/web:1', 'complete') });
    const good = s.git.commits[0]!.sha;
    s.git.humanEdit('apps/web.yaml', manifest('reg/web:2', 'complete', v2Pool) + extra, 'web 2');
    show(s, 'failed', { pool: v2Pool });
    return { s, good };
  }

  it('opens one PR on its own branch that restores the template of the last complete commit, surgically', async () => {
    const { s, good } = failedSetup();
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.proposals.length, 1);
    const p = s.git.proposals[0]!;
    assert.equal(p.branch, 'kube-latch/eu-1-revert-prod-web');
    assert.equal(p.title, `kube-latch: revert prod/Deployment/web to the pod template of ${good.slice(0, 12)} (rollout revision 2 failed)`);
    assert.deepEqual(p.changes.map((c) => [c.path.join('.'), c.value]), [
      ['spec.template.spec.nodeSelector.pool', 'kwok'],
      ['spec.template.spec.containers.0.image', 'reg/web:1'],
    ]);
    assert.equal(p.files.get('apps/web.yaml'), manifest('reg/web:1', 'complete', 'kwok'));
    assert.ok(p.body.includes('ReplicaSet "web-2" has timed out progressing.'));
    assert.ok(p.body.includes('| web-2 (new) | 2 | app=reg/web:2 | 1 | 1 | 0 | 0 |'));
    assert.ok(p.body.includes('| web-1 | 1 | app=reg/web:1 | 4 | 4 | 4 | 4 |'));
    assert.ok(s.events.events.some((e) => e.reason === 'RolloutRevertProposed' && e.message.includes('pull/2')));
    // the failed milestone went to the cluster PR
    assert.deepEqual([...s.git.clusterPr.values()].map((c) => c.value), ['rev=2 images=app=reg/web:2 milestone=failed']);
    // seen again: no second PR
    show(s, 'failed', { pool: 'gpu' });
    await s.clock.advance(WINDOW * 3);
    assert.equal(s.git.proposals.length, 1);
    assert.deepEqual(s.latcher.reverts.map((r) => [r.workload, r.revision, r.commit]), [['prod/Deployment/web', 2, good]]);
  });

  it('a structural difference opens no PR; the Warning names the commit to restore by hand', async () => {
    const { s, good } = failedSetup('gpu', '');
    s.git.humanEdit('apps/web.yaml', manifest('reg/web:2', 'complete', 'gpu').replace('      containers:', '      hostNetwork: true\n      containers:'));
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.proposals.length, 0);
    const ev = s.events.events.find((e) => e.reason === 'RolloutRevertNotProposed');
    assert.equal(ev?.type, 'Warning');
    assert.match(ev!.message, /hostNetwork would have to be removed; restore spec\.template of apps\/web\.yaml from [0-9a-f]{12} by hand/);
    assert.ok(ev!.message.includes(good.slice(0, 12)));
  });

  it('no PR when git does not hold the failing template (it was set outside git)', async () => {
    const s = setup('pr', { 'apps/web.yaml': manifest('reg/web:1', 'complete') });
    show(s, 'failed', { image: 'reg/web:9' });
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.proposals.length, 0);
    assert.match(s.events.events.find((e) => e.reason === 'RolloutRevertNotProposed')!.message, /git's template in apps\/web\.yaml \(app=reg\/web:1\) is not the one that failed/);
  });

  it('without any complete record, restores the template before the failing change', async () => {
    const s = setup('pr', { 'apps/web.yaml': manifest('reg/web:0') });
    const v1 = s.git.humanEdit('apps/web.yaml', manifest('reg/web:1'));
    s.git.humanEdit('apps/web.yaml', manifest('reg/web:2'));
    show(s, 'failed');
    await s.clock.advance(WINDOW + 1);
    assert.equal(s.git.proposals.length, 1);
    assert.ok(s.git.proposals[0]!.title.includes(v1.slice(0, 12)));
    assert.ok(s.git.proposals[0]!.body.includes('no commit records `complete`'));
  });
});
