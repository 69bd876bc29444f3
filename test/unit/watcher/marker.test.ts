// The watcher's latch marker (DESIGN §4 "After a push"): set on each workload written, with the value
// pushed; never for a latch that was not pushed (already in git, lost leadership, remote down).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine } from '../../../src/watcher/engine.ts';
import { latchedPatch, WATCHER_FIELD_MANAGER } from '../../../src/watcher/marker.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import { deployment, FakeEvents, FakeGit, FakeLeadership, FakeMarker, silent } from './fakes.ts';

const S = 1000;

async function rig(leader = true) {
  const clock = new ManualClock();
  const git = new FakeGit();
  const marker = new FakeMarker();
  const leadership = new FakeLeadership(leader);
  const engine = new Engine(
    { settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {} },
    { git, leadership, events: new FakeEvents(), metrics: new WatcherMetrics(), marker, clock, logger: silent },
  );
  await engine.start();
  return { clock, git, marker, engine, leadership };
}

test('marker: after the push of 20 → 50 the workload is marked latched "50", once', async () => {
  const r = await rig();
  const web = deployment('web', 20);
  const api = deployment('api', 20);
  r.git.set(web.ref, 20);
  r.git.set(api.ref, 20);
  r.engine.upsertWorkload(deployment('web', 47));
  r.engine.upsertWorkload(deployment('api', 30)); // in band: no latch, no mark
  await r.clock.advance(70 * S);
  assert.equal(r.git.writes.length, 1);
  assert.deepEqual(r.marker.marks, [{ target: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'prod', name: 'web', uid: 'uid-prod-web' }, latchPoint: 50 }]);
  await r.clock.advance(3600 * S);
  assert.equal(r.marker.marks.length, 1);
  await r.engine.stop();
});

test('marker: a latch already in git is not pushed, and the marker follows git (DESIGN §4)', async () => {
  const r = await rig();
  const web = deployment('web', 20);
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 48));
  await r.clock.advance(62 * S);
  r.git.set(web.ref, 50);
  await r.clock.advance(20 * S);
  assert.equal(r.git.writes.length, 0);
  assert.deepEqual(r.marker.marks.map((m) => m.latchPoint), [50]);
  await r.engine.stop();
});

test('marker: git holding L marks nothing when the workload already shows L as marker or as declared', async () => {
  const shown: Record<string, string>[] = [{ 'kube-latch.io/latched': '50' }, { 'kube-latch.io/declared': '50' }];
  for (const ann of shown) {
    const r = await rig();
    const web = deployment('web', 20);
    r.git.set(web.ref, 20);
    r.engine.upsertWorkload(deployment('web', 48, ann));
    await r.clock.advance(62 * S);
    r.git.set(web.ref, 50);
    await r.clock.advance(20 * S);
    assert.deepEqual(r.marker.marks, [], JSON.stringify(ann));
    await r.engine.stop();
  }
});

test('marker: no mark while the push fails; the mark follows the push that succeeds', async () => {
  const r = await rig();
  const web = deployment('web', 20);
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 100));
  r.git.down = true;
  await r.clock.advance(75 * S);
  assert.equal(r.marker.marks.length, 0);
  r.git.down = false;
  await r.clock.advance(120 * S);
  assert.deepEqual(r.marker.marks.map((m) => m.latchPoint), [100]);
  await r.engine.stop();
});

test('marker: a standby never marks', async () => {
  const r = await rig(false);
  const web = deployment('web', 20);
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 47));
  await r.clock.advance(200 * S);
  assert.deepEqual(r.marker.marks, []);
  await r.engine.stop();
});

test('marker: the patch is a merge patch of the one annotation, under the watcher’s own field manager', () => {
  assert.deepEqual(latchedPatch({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: 'shop', name: 'cart' }, 50), {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'cart', namespace: 'shop', annotations: { 'kube-latch.io/latched': '50' } },
  });
  assert.equal(WATCHER_FIELD_MANAGER, 'kube-latch-watcher');
});

test('marker: the removal patch sets the annotation to null (a JSON merge patch deletes the key), nothing else', () => {
  assert.deepEqual(latchedPatch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'prod', name: 'web' }, null), {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'prod', annotations: { 'kube-latch.io/latched': null } },
  });
});

// After a restart nothing is pending: the sync itself marks a latch of kube-latch's own that git holds.
const DECLARED = 'kube-latch.io/declared';

test('marker: after a restart, git holding kube-latch’s own 50 (declared still 20, no marker) marks 50 at the next sync, once', async () => {
  const r = await rig();
  const web = deployment('web', 50, { [DECLARED]: '20' });
  r.git.set(web.ref, 50);
  r.git.own.set('prod/web.yaml', [{ ref: web.ref, to: 50 }]);
  r.engine.upsertWorkload(web);
  await r.clock.advance(60 * S);
  assert.deepEqual(r.marker.marks.map((m) => m.latchPoint), [50]);
  assert.equal(r.git.writes.length, 0, 'nothing to write: git holds it');
  // The fake marker never shows the annotation on the workload: the engine itself patches only once.
  await r.clock.advance(600 * S);
  assert.deepEqual(r.marker.marks.map((m) => m.latchPoint), [50]);
  assert.deepEqual(r.git.ownAsked, ['prod/web.yaml'], 'git is asked once, not at every sync');
  await r.engine.stop();
});

test('marker: a value a human put in git is never marked from git (the newest commit to the file is not kube-latch’s)', async () => {
  const r = await rig();
  const web = deployment('web', 30, { [DECLARED]: '20' });
  r.git.set(web.ref, 30);
  r.git.own.set('prod/web.yaml', [{ ref: deployment('api', 1).ref, to: 30 }]); // ours, but for another workload
  r.engine.upsertWorkload(web);
  await r.clock.advance(300 * S);
  assert.deepEqual(r.marker.marks, []);
  await r.engine.stop();
});

test('marker: a workload that shows git’s value as declared or as its marker costs no look at git', async () => {
  const shown: Record<string, string>[] = [{ [DECLARED]: '50' }, { 'kube-latch.io/latched': '50' }];
  for (const ann of shown) {
    const r = await rig();
    const web = deployment('web', 50, ann);
    r.git.set(web.ref, 50);
    r.git.own.set('prod/web.yaml', [{ ref: web.ref, to: 50 }]);
    r.engine.upsertWorkload(web);
    await r.clock.advance(300 * S);
    assert.deepEqual(r.marker.marks, [], JSON.stringify(ann));
    assert.deepEqual(r.git.ownAsked, [], JSON.stringify(ann));
    await r.engine.stop();
  }
});

test('marker: a fresh standby marks git’s own latch when it takes the lease, not before', async () => {
  const r = await rig(false);
  const web = deployment('web', 50, { [DECLARED]: '20' });
  r.git.set(web.ref, 50);
  r.git.own.set('prod/web.yaml', [{ ref: web.ref, to: 50 }]);
  r.engine.upsertWorkload(web);
  await r.clock.advance(300 * S);
  assert.equal(r.marker.marks.length, 0);
  r.leadership.set(true);
  await r.clock.advance(0);
  assert.deepEqual(r.marker.marks.map((m) => m.latchPoint), [50]);
  await r.engine.stop();
});
