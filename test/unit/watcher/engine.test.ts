import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { latch, parseTrace, resolvePolicy, simulate } from '../../../src/latch/index.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine, type EngineConfig } from '../../../src/watcher/engine.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import { deployment, FakeEvents, FakeGit, FakeLeadership, silent } from './fakes.ts';
import type { DueLatch, WriteResult } from '../../../src/watcher/types.ts';

const S = 1000;

interface Rig {
  clock: ManualClock;
  git: FakeGit;
  leader: FakeLeadership;
  events: FakeEvents;
  metrics: WatcherMetrics;
  engine: Engine;
}

async function rig(cfg: Partial<EngineConfig> = {}, opts: { leader?: boolean; git?: FakeGit; clock?: ManualClock } = {}): Promise<Rig> {
  const clock = opts.clock ?? new ManualClock();
  const git = opts.git ?? new FakeGit();
  const leader = new FakeLeadership(opts.leader ?? true);
  const events = new FakeEvents();
  const metrics = new WatcherMetrics();
  const engine = new Engine(
    { settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {}, ...cfg },
    { git, leadership: leader, events, metrics, clock, logger: silent },
  );
  await engine.start();
  return { clock, git, leader, events, metrics, engine };
}

async function metric(m: WatcherMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const all = await m.registry.getMetricsAsJSON();
  const found = all.find((x) => x.name === name);
  const v = found?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value;
}

const web = deployment('web', 20);

test('engine: an exit above the band is written once, after settle-up plus the batch window', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 20));
  r.engine.upsertWorkload(deployment('web', 47));
  await r.clock.advance(69 * S);
  assert.equal(r.git.writes.length, 0, 'nothing before settle-up + batch window');
  await r.clock.advance(1 * S);
  assert.equal(r.git.writes.length, 1);
  const [l] = r.git.writes[0]!;
  assert.deepEqual(
    { ref: l!.ref, live: l!.live, from: l!.from, band: l!.band, to: l!.to, direction: l!.direction, file: l!.location.file },
    { ref: web.ref, live: 47, from: 20, band: { lo: 10, hi: 40 }, to: 50, direction: 'up', file: 'prod/web.yaml' },
  );
  assert.equal(r.git.get(web.ref), 50);
  await r.clock.advance(3 * 3600 * S);
  assert.equal(r.git.writes.length, 1, 'no second write: 47 is in band(50)');
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_latches_total', { direction: 'up' }), 1);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 0);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_last_push_timestamp_seconds'), (r.clock.now() - 3 * 3600 * S) / 1000);
  const written = r.events.events.filter((e) => e.reason === 'LatchWritten');
  assert.equal(written.length, 1);
  assert.equal(written[0]!.type, 'Normal');
  assert.match(written[0]!.message, /20 → 50 \(live 47, band 10-40\) in c1/);
  assert.equal(written[0]!.target.uid, 'uid-prod-web');
  await r.engine.stop();
});

test('engine: the up latch uses v at the moment it falls due', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 45));
  await r.clock.advance(30 * S);
  r.engine.upsertWorkload(deployment('web', 90));
  await r.clock.advance(30 * S); // due now with v = 90 → latch 100
  r.engine.upsertWorkload(deployment('web', 60)); // after due: the due latch stands
  await r.clock.advance(10 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => [l.live, l.to]), [[90, 100]]);
  await r.engine.stop();
});

test('engine: moves inside the band write nothing', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  for (let i = 0; i < 500; i++) {
    r.engine.upsertWorkload(deployment('web', 10 + ((i * 7) % 31))); // 10..40 = band(20)
    await r.clock.advance(60 * S);
  }
  assert.equal(r.git.writes.length, 0);
  assert.equal(r.git.pushAttempts, 0);
  assert.equal(r.engine.status(web.ref)?.verdict?.kind, 'in-band');
  await r.engine.stop();
});

test('engine: 1,000 simultaneous band exits → one write', async () => {
  const r = await rig();
  for (let i = 0; i < 1000; i++) r.git.set(deployment(`w${i}`, 0).ref, 20);
  for (let i = 0; i < 1000; i++) r.engine.upsertWorkload(deployment(`w${i}`, 20));
  for (let i = 0; i < 1000; i++) r.engine.upsertWorkload(deployment(`w${i}`, 41 + (i % 50)));
  await r.clock.advance(60 * S);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 1000);
  await r.clock.advance(10 * S);
  assert.equal(r.git.writes.length, 1);
  assert.equal(r.git.writes[0]!.length, 1000);
  assert.equal(r.git.pushAttempts, 1);
  await r.clock.advance(3600 * S);
  assert.equal(r.git.writes.length, 1);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_latches_total', { direction: 'up' }), 1000);
  await r.engine.stop();
});

test('engine: latches due within the batch window share a write; later ones get their own', async () => {
  const r = await rig();
  for (const n of ['a', 'b', 'c']) r.git.set(deployment(n, 0).ref, 20);
  r.engine.upsertWorkload(deployment('a', 50));
  await r.clock.advance(5 * S);
  r.engine.upsertWorkload(deployment('b', 50)); // due 5 s after a: inside a's window
  await r.clock.advance(15 * S);
  r.engine.upsertWorkload(deployment('c', 50)); // due 20 s after a: a new batch
  await r.clock.advance(200 * S);
  assert.deepEqual(
    r.git.writes.map((w) => w.map((l) => l.ref.name).sort()),
    [['a', 'b'], ['c']],
  );
  await r.engine.stop();
});

test('engine: a downward latch waits settle-down and goes to the recent peak', async () => {
  const r = await rig();
  r.git.set(web.ref, 50);
  r.engine.upsertWorkload(deployment('web', 20)); // below band(50) = 25..100
  await r.clock.advance(1800 * S);
  r.engine.upsertWorkload(deployment('web', 9));
  await r.clock.advance(1799 * S);
  assert.equal(r.git.writes.length, 0);
  await r.clock.advance(1 * S + 10 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => [l.from, l.to, l.direction, l.live]), [[50, 20, 'down', 9]]);
  await r.engine.stop();
});

test('engine: HPA min/max bound the latch when the workload has no bound annotations', async () => {
  const r = await rig();
  const hpa = (max: number) => ({ namespace: 'prod', name: 'web', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 2, max });
  for (const n of ['web', 'api']) r.git.set(deployment(n, 0).ref, 20);
  r.engine.upsertHpa(hpa(30));
  r.engine.upsertHpa({ ...hpa(30), name: 'api', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' } });
  r.engine.upsertWorkload(deployment('web', 100)); // latch(100) = 100, HPA max 30 → 30
  r.engine.upsertWorkload(deployment('api', 100, { 'kube-latch.io/max-replicas': '500' })); // annotation wins
  await r.clock.advance(70 * S);
  const got = Object.fromEntries(r.git.writes.flat().map((l) => [l.ref.name, l.to]));
  assert.deepEqual(got, { web: 30, api: 100 });
  await r.engine.stop();
});

test('engine: an HPA for another kind or group does not bound the workload', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertHpa({ namespace: 'prod', name: 'x', target: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Deployment', name: 'web' }, min: 1, max: 30 });
  r.engine.upsertHpa({ namespace: 'prod', name: 'y', target: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web' }, min: 1, max: 30 });
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(70 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

test('engine: an HPA change re-evaluates its target, and removing it lifts the bound', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  const h = { namespace: 'prod', name: 'web', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 1, max: 20 };
  r.engine.upsertHpa(h);
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(120 * S);
  assert.equal(r.git.writes.length, 0, 'max 20 clamps latch(100) to the declared 20: nothing to write');
  assert.equal(r.engine.status(web.ref)?.verdict?.kind, 'held');
  r.engine.removeHpa('prod', 'web');
  await r.clock.advance(10 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

const invalid: Array<[string, Record<string, string>, RegExp]> = [
  ['unknown ladder', { 'kube-latch.io/ladder': 'fib' }, /kube-latch\.io\/ladder.*unknown ladder "fib"/],
  ['tolerance below the ladder minimum', { 'kube-latch.io/tolerance': '1.2' }, /kube-latch\.io\/tolerance.*1\.582/],
  ['bound not an integer', { 'kube-latch.io/min-replicas': 'two' }, /kube-latch\.io\/min-replicas/],
  ['min > max', { 'kube-latch.io/min-replicas': '9', 'kube-latch.io/max-replicas': '3' }, /min-replicas 9 exceeds max-replicas 3/],
];
for (const [name, ann, message] of invalid) {
  test(`engine: invalid policy (${name}) → Warning Event, metric, no write`, async () => {
    const r = await rig();
    r.git.set(web.ref, 20);
    r.engine.upsertWorkload(deployment('web', 100, ann));
    await r.clock.advance(600 * S);
    assert.equal(r.git.writes.length, 0);
    const ev = r.events.events.filter((e) => e.reason === 'InvalidLatchPolicy');
    assert.ok(ev.length >= 1);
    assert.equal(ev[0]!.type, 'Warning');
    assert.match(ev[0]!.message, message);
    assert.equal(await metric(r.metrics, 'kube_latch_watcher_invalid_policy_workloads'), 1);
    // fixing the annotation lifts it
    r.engine.upsertWorkload(deployment('web', 100));
    assert.equal(await metric(r.metrics, 'kube_latch_watcher_invalid_policy_workloads'), 0);
    await r.clock.advance(70 * S);
    assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
    await r.engine.stop();
  });
}

test('engine: no location in git → Warning Event, metric, no write', async () => {
  const r = await rig();
  r.engine.upsertWorkload(deployment('ghost', 100));
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  const ev = r.events.events.find((e) => e.reason === 'LatchTargetNotFound');
  assert.ok(ev);
  assert.match(ev.message, /no replicas line for prod\/Deployment\/ghost/);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'none' }), 1);
  await r.engine.stop();
});

test('engine: ambiguous location → Warning Event naming the candidates, metric, no write', async () => {
  const r = await rig();
  r.git.ambiguous.set('prod/Deployment/web', ['apps/web.yaml:12', 'legacy/web.yaml:3']);
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  const ev = r.events.events.find((e) => e.reason === 'LatchTargetAmbiguous');
  assert.ok(ev);
  assert.match(ev.message, /2 places in git declare prod\/Deployment\/web: apps\/web\.yaml:12, legacy\/web\.yaml:3/);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 1);
  // once git is fixed (one location), the next refresh picks it up and latches
  r.git.ambiguous.clear();
  r.git.set(web.ref, 20);
  await r.clock.advance(60 * S); // refresh
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 0);
  await r.clock.advance(70 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

test('engine: a missing replicas line counts as 1 and latches like any other value', async () => {
  const r = await rig();
  r.git.set(web.ref, null);
  r.engine.upsertWorkload(deployment('web', 2)); // band(1) = 1..2
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  r.engine.upsertWorkload(deployment('web', 7));
  await r.clock.advance(70 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => [l.from, l.to]), [[1, 5]]);
  await r.engine.stop();
});

test('engine: a value already in git is not written again', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 48));
  await r.clock.advance(62 * S); // due at 60, pending until 70
  r.git.set(web.ref, 50); // someone (a human, another replica) already put 50 in git
  await r.clock.advance(20 * S);
  assert.equal(r.git.writes.length, 0);
  assert.equal(r.git.pushAttempts, 0);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 0);
  await r.clock.advance(3600 * S);
  assert.equal(r.git.writes.length, 0);
  await r.engine.stop();
});

test('engine: a human edit to git while a latch is pending wins; settle starts over', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 48));
  await r.clock.advance(62 * S);
  r.git.set(web.ref, 200); // band(200) = 100..400: 48 is now below it
  await r.clock.advance(20 * S);
  assert.equal(r.git.writes.length, 0);
  assert.equal(r.engine.status(web.ref)?.verdict?.kind, 'settling');
  await r.clock.advance(3600 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => [l.from, l.to]), [[200, 50]]);
  await r.engine.stop();
});

test('engine: a remote that is down → retried with backoff, the latch lands when it returns', async () => {
  const r = await rig({ retryBaseMs: 1 * S, retryMaxMs: 30 * S });
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 100));
  r.git.down = true;
  await r.clock.advance(70 * S);
  assert.equal(r.git.writes.length, 0);
  await r.clock.advance(10 * 60 * S);
  const failures = (await metric(r.metrics, 'kube_latch_watcher_push_failures_total'))!;
  // 1+2+4+8+16 s, then every 30 s for the rest of the 10 minutes: about 24 attempts, not hundreds
  assert.ok(failures >= 15 && failures <= 30, `failures ${failures}`);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 1);
  r.git.down = false;
  await r.clock.advance(30 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 0);
  await r.clock.advance(600 * S);
  assert.equal(r.git.writes.length, 1);
  await r.engine.stop();
});

test('engine: only the leader writes; a follower that becomes leader writes what is due', async () => {
  const r = await rig({}, { leader: false });
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  assert.equal(r.events.events.length, 0, 'followers record no Events');
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_leader'), 0);
  r.leader.set(true);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_leader'), 1);
  await r.clock.advance(10 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

test('engine: leadership lost during a write stops before the push; the latch stays pending', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 100));
  r.git.beforePush = () => r.leader.set(false);
  await r.clock.advance(70 * S);
  assert.equal(r.git.writes.length, 0);
  assert.equal(r.git.get(web.ref), 20);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 1);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_push_failures_total'), 0);
  r.git.beforePush = undefined;
  r.leader.set(true);
  await r.clock.advance(10 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

test('engine: a restart commits nothing new (level-triggered from live objects and git)', async () => {
  const git = new FakeGit();
  const clock = new ManualClock();
  const a = await rig({}, { git, clock });
  git.set(web.ref, 20);
  a.engine.upsertWorkload(deployment('web', 100));
  await clock.advance(70 * S);
  assert.equal(git.writes.length, 1);
  await a.engine.stop();
  const b = await rig({}, { git, clock });
  b.engine.upsertWorkload(deployment('web', 100));
  await clock.advance(2 * 3600 * S);
  assert.equal(git.writes.length, 1);
  await b.engine.stop();
});

test('engine: a restart restarts settle timers conservatively', async () => {
  const git = new FakeGit();
  const clock = new ManualClock();
  git.set(web.ref, 20);
  const a = await rig({}, { git, clock });
  a.engine.upsertWorkload(deployment('web', 100));
  await clock.advance(50 * S);
  await a.engine.stop();
  const b = await rig({}, { git, clock });
  b.engine.upsertWorkload(deployment('web', 100));
  await clock.advance(69 * S);
  assert.equal(git.writes.length, 0, 'the first 50 s out of band are forgotten');
  await clock.advance(1 * S);
  assert.equal(git.writes.length, 1);
  await b.engine.stop();
});

test('engine: a deleted workload drops its pending latch', async () => {
  const r = await rig();
  r.git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(62 * S);
  r.engine.removeWorkload(web.ref);
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_pending_latches'), 0);
  await r.engine.stop();
});

test('engine: git unreachable at start → no lookups until it answers, then normal', async () => {
  const git = new FakeGit();
  git.down = true;
  git.set(web.ref, 20);
  const r = await rig({}, { git });
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(300 * S);
  assert.equal(r.events.events.length, 0, 'no "not found" Events while git is not loaded');
  assert.equal(git.pushAttempts, 0);
  git.down = false;
  await r.clock.advance(60 * S); // refresh retry
  await r.clock.advance(70 * S);
  assert.deepEqual(git.writes.flat().map((l) => l.to), [100]);
  await r.engine.stop();
});

test('engine: replaying a trace writes the same latch points as simulate() (batch window 0)', async () => {
  const all = parseTrace(readFileSync(new URL('./fixtures/clarknet-1995-replicas.csv', import.meta.url), 'utf8'));
  const rows = all; // 14 days, 20,160 rows
  const p = resolvePolicy(undefined);
  assert.ok(p.ok);
  const want = simulate(rows, { policy: p.policy, settleUp: 60, settleDown: 3600 }).latches;
  assert.ok(want.length >= 5, `${want.length}`);

  const clock = new ManualClock(0);
  const git = new FakeGit();
  git.set(web.ref, latch(p.policy, rows[0]!.v));
  const r = await rig({ batchWindowMs: 0, tickMs: 3600 * S, refreshMs: 24 * 3600 * S }, { git, clock });
  const got: Array<{ t: number; from: number; to: number }> = [];
  const realWrite = git.write.bind(git);
  git.write = async (latches, opts) => {
    for (const l of latches) got.push({ t: clock.now() / 1000, from: l.from, to: l.to });
    return realWrite(latches, opts);
  };
  // simulate() checks each row after applying it; so does this replay: timers strictly before the
  // row fire first, then the row lands, then timers due at the row's instant. Only changes of v are
  // fed (as an informer would see them): the engine's own timers must find every due moment.
  for (const [i, row] of rows.entries()) {
    if (i > 0 && rows[i - 1]!.v === row.v) continue;
    if (row.t * S > clock.now()) await clock.advance(row.t * S - 1 - clock.now());
    clock.jumpTo(row.t * S);
    r.engine.upsertWorkload(deployment('web', row.v));
    await clock.advance(0);
  }
  assert.deepEqual(got, want);
  await r.engine.stop();
});

test('engine: two workloads on one replicas line are both ambiguous, named with file:line; neither is written', async () => {
  const r = await rig();
  const other = deployment('web', 100, {}, 'staging');
  for (const w of [web, other]) {
    r.git.set(w.ref, 20);
    r.git.places.set(`${w.ref.namespace}/Deployment/web`, { file: 'base/web.yaml', line: 7 });
  }
  r.engine.upsertWorkload(deployment('web', 100));
  r.engine.upsertWorkload(other);
  await r.clock.advance(600 * S);
  assert.equal(r.git.pushAttempts, 0);
  for (const [w, sharer] of [['prod', 'staging'], ['staging', 'prod']] as const) {
    const ev = r.events.events.find((e) => e.reason === 'LatchTargetAmbiguous' && e.target.namespace === w);
    assert.ok(ev, `an Event on ${w}/web`);
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, `kube-latch: the replicas location of ${w}/Deployment/web in git is ambiguous: base/web.yaml:7 is also the replicas line of ${sharer}/Deployment/web; nothing written`);
  }
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 2);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workload_info', { workload: 'prod/Deployment/web', reason: 'ambiguous', candidates: 'base/web.yaml:7' }), 1);
  // a marker gives staging its own line: both are writable again, and prod latches
  r.git.places.set('staging/Deployment/web', { file: 'overlays/staging/web.yaml', line: 4 });
  await r.clock.advance(60 * S); // refresh
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 0);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workload_info', { workload: 'prod/Deployment/web' }), undefined, 'the series goes with the problem');
  await r.clock.advance(70 * S);
  assert.deepEqual(r.git.writes.flat().map((l) => `${l.ref.namespace}:${l.to}`).sort(), ['prod:100', 'staging:100']);
  await r.engine.stop();
});

test('engine: a deleted workload frees the replicas line it shared', async () => {
  const r = await rig();
  const other = deployment('web', 100, {}, 'staging');
  for (const w of [web, other]) {
    r.git.set(w.ref, 20);
    r.git.places.set(`${w.ref.namespace}/Deployment/web`, { file: 'base/web.yaml', line: 7 });
  }
  r.engine.upsertWorkload(deployment('web', 100));
  r.engine.upsertWorkload(other);
  await r.clock.advance(1 * S);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 2);
  r.engine.removeWorkload(other.ref);
  await r.clock.advance(70 * S);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 0);
  assert.deepEqual(r.git.writes.flat().map((l) => `${l.ref.namespace}:${l.to}`), ['prod:100']);
  await r.engine.stop();
});

test('engine: the info metric names every candidate of an ambiguous location', async () => {
  const r = await rig();
  r.git.ambiguous.set('prod/Deployment/web', ['apps/web.yaml:12', 'legacy/web.yaml:3']);
  r.engine.upsertWorkload(deployment('web', 100));
  await r.clock.advance(1 * S);
  assert.equal(await metric(r.metrics, 'kube_latch_watcher_unlocated_workload_info', { workload: 'prod/Deployment/web', reason: 'ambiguous', candidates: 'apps/web.yaml:12, legacy/web.yaml:3' }), 1);
  await r.engine.stop();
});

const refusals = [
  { outcome: 'ambiguous', reason: 'prod/Deployment/web and prod/Deployment/api resolve to the same replicas value at apps/web.yaml:4', candidates: ['apps/web.yaml:4'], event: 'LatchTargetAmbiguous', message: /ambiguous: prod\/Deployment\/web and prod\/Deployment\/api resolve to the same replicas value at apps\/web\.yaml:4; nothing written/ },
  { outcome: 'unlocated', reason: 'no document under apps declares prod/Deployment/web', candidates: [], event: 'LatchTargetNotFound', message: /no replicas line for prod\/Deployment\/web/ },
  { outcome: 'error', reason: 'apps/web.yaml: spec.replicas is a block scalar', candidates: ['apps/web.yaml:4'], event: 'LatchNotWritten', message: /^kube-latch: git replicas 20 → 100 not written: apps\/web\.yaml: spec\.replicas is a block scalar$/ },
  { outcome: 'stale', reason: 'git holds 30 at apps/web.yaml:4, the latch was computed from 20', candidates: ['apps/web.yaml:4'], event: undefined, message: undefined },
] as const;
for (const c of refusals) {
  test(`engine: a latch the write refuses (${c.outcome}) is counted${c.event ? ` and reported as ${c.event}` : ''}, never dropped silently`, async () => {
    const r = await rig();
    r.git.set(web.ref, 20);
    r.git.refuse.set('prod/Deployment/web', { outcome: c.outcome, reason: c.reason, candidates: c.candidates });
    r.engine.upsertWorkload(deployment('web', 100));
    await r.clock.advance(70 * S);
    assert.equal(r.git.pushAttempts, 1);
    assert.equal(r.git.writes.length, 0);
    assert.equal(await metric(r.metrics, 'kube_latch_watcher_latches_not_written_total', { outcome: c.outcome }), 1);
    const ev = r.events.events.filter((e) => e.reason !== 'LatchWritten');
    if (c.event) {
      assert.equal(ev[0]?.reason, c.event);
      assert.equal(ev[0]?.type, 'Warning');
      assert.match(ev[0]!.message, c.message!);
    } else {
      assert.deepEqual(ev, [], 'git moving under a latch is routine: a log line and the metric');
    }
    await r.engine.stop();
  });
}

test('engine: notices from a write (pr mode: a latch a human rejected) become Events on the workload, and the latch is not recorded as written', async () => {
  // A PR-mode git that refuses every latch as rejected, as proposeChanges does after a human closed the PR.
  class RejectingGit extends FakeGit {
    override async write(latches: readonly DueLatch[]): Promise<WriteResult> {
      this.writes.push([...latches]);
      return {
        ok: true,
        written: [],
        unchanged: [],
        notices: latches.map((l) => ({ ref: l.ref, type: 'Normal' as const, reason: 'LatchRejected', message: `kube-latch: replicas ${l.to} not proposed: a human closed it` })),
      };
    }
  }
  const git = new RejectingGit();
  const r = await rig({}, { git });
  git.set(web.ref, 20);
  r.engine.upsertWorkload(deployment('web', 47));
  await r.clock.advance(70 * S);
  assert.equal(git.writes.length, 1);
  const rejected = r.events.events.filter((e) => e.reason === 'LatchRejected');
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.target.uid, 'uid-prod-web');
  assert.match(rejected[0]!.message, /replicas 50 not proposed/);
  assert.equal(r.events.events.filter((e) => e.reason === 'LatchWritten').length, 0);
  assert.ok(!(await metric(r.metrics, 'kube_latch_watcher_latches_total', { direction: 'up' })), 'no latch counted');
  await r.engine.stop();
});
