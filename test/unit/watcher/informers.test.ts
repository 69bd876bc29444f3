import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubernetesObject } from '@kubernetes/client-node';
import { DEPLOYMENT, HPA, STATEFULSET } from '../../../src/kube/client.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import {
  ENABLED_SELECTOR,
  startInformers,
  SupervisedInformer,
  toHpa,
  toWorkload,
  type InformerHooks,
  type InformerLike,
  type WatchSpec,
} from '../../../src/watcher/informers.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import type { HpaObservation, WorkloadObservation, WorkloadRef } from '../../../src/watcher/types.ts';
import { silent } from './fakes.ts';

type Cb = (x: any) => void;

class FakeInformer implements InformerLike {
  readonly spec: WatchSpec;
  readonly hooks: InformerHooks;
  readonly cbs: Record<string, Cb[]> = { add: [], update: [], delete: [], error: [] };
  started = false;
  stopped = false;
  constructor(spec: WatchSpec, hooks: InformerHooks) {
    this.spec = spec;
    this.hooks = hooks;
  }
  on(verb: string, cb: Cb): void {
    this.cbs[verb]!.push(cb);
  }
  async start(): Promise<void> {
    this.started = true;
  }
  async stop(): Promise<void> {
    this.stopped = true;
    // like ListWatch: aborting the request surfaces as an error callback
    for (const cb of this.cbs['error']!) cb(new Error('The operation was aborted'));
  }
  list(items: KubernetesObject[]): void {
    this.hooks.onList(items);
    this.hooks.onSignal();
    for (const o of items) for (const cb of this.cbs['add']!) cb(o);
  }
  emit(verb: 'add' | 'update' | 'delete', o: KubernetesObject): void {
    this.hooks.onSignal();
    for (const cb of this.cbs[verb]!) cb(o);
  }
  bookmark(): void {
    this.hooks.onSignal();
  }
  fail(err: unknown): void {
    for (const cb of this.cbs['error']!) cb(err);
  }
}

function factoryRig() {
  const made: FakeInformer[] = [];
  const factory = (spec: WatchSpec, hooks: InformerHooks) => {
    const f = new FakeInformer(spec, hooks);
    made.push(f);
    return f;
  };
  return { made, factory };
}

const obj = (name: string, replicas?: number, extra: Record<string, unknown> = {}): KubernetesObject =>
  ({ metadata: { name, namespace: 'prod', uid: `u-${name}`, annotations: { a: 'b' } }, spec: replicas === undefined ? {} : { replicas }, ...extra }) as KubernetesObject;

function recorder() {
  const seen: string[] = [];
  return {
    seen,
    handlers: {
      upsert: (o: KubernetesObject) => seen.push(`+${o.metadata!.name}`),
      remove: (o: KubernetesObject) => seen.push(`-${o.metadata!.name}`),
    },
  };
}

test('informers: objects flow to the handlers; deletes too', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const r = recorder();
  const sup = new SupervisedInformer({ resource: DEPLOYMENT, labelSelector: ENABLED_SELECTOR }, factory, r.handlers, { clock, logger: silent });
  sup.start();
  assert.equal(made.length, 1);
  assert.equal(made[0]!.started, true);
  assert.equal(made[0]!.spec.labelSelector, 'kube-latch.io/enabled=true');
  made[0]!.list([obj('a', 3), obj('b', 4)]);
  made[0]!.emit('update', obj('a', 5));
  made[0]!.emit('delete', obj('b'));
  assert.deepEqual(r.seen, ['+a', '+b', '+a', '-b']);
  await sup.stop();
  assert.equal(clock.pending, 0, 'no timers left behind');
});

test('informers: an error restarts a fresh informer with exponential backoff; a signal resets it', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const r = recorder();
  const metrics = new WatcherMetrics();
  const sup = new SupervisedInformer({ resource: DEPLOYMENT }, factory, r.handlers, { clock, logger: silent, metrics, backoffBaseMs: 1000, backoffMaxMs: 8000 });
  sup.start();
  const restartTimes: number[] = [];
  const t0 = clock.now();
  for (let i = 0; i < 6; i++) {
    made[made.length - 1]!.fail(Object.assign(new Error('Forbidden'), { statusCode: 403 }));
    const before = made.length;
    while (made.length === before) await clock.advance(100);
    restartTimes.push(clock.now());
  }
  const gaps = restartTimes.map((t, i) => t - (i === 0 ? t0 : restartTimes[i - 1]!));
  assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 8000, 8000]);
  assert.ok(made.slice(0, -1).every((f) => f.stopped), 'each failed informer is stopped');
  assert.equal(sup.restarts.error, 6);
  // a healthy list resets the backoff
  made[made.length - 1]!.list([]);
  made[made.length - 1]!.fail(new Error('again'));
  const before = made.length;
  await clock.advance(1000);
  assert.equal(made.length, before + 1);
  const json = await metrics.registry.getSingleMetricAsString('kube_latch_watcher_informer_restarts_total');
  assert.match(json, /kind="Deployment",cause="error"\} 7/);
  await sup.stop();
});

test('informers: the abort error of a stopped informer does not trigger another restart', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const sup = new SupervisedInformer({ resource: DEPLOYMENT }, factory, recorder().handlers, { clock, logger: silent });
  sup.start();
  made[0]!.fail(new Error('boom')); // → stop() of made[0] emits an abort error, which must be ignored
  await clock.advance(60_000);
  assert.equal(made.length, 2);
  assert.equal(sup.restarts.error, 1);
  await sup.stop();
});

test('informers: the watchdog restarts a silent informer; bookmarks keep it alive', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const metrics = new WatcherMetrics();
  const sup = new SupervisedInformer({ resource: STATEFULSET }, factory, recorder().handlers, {
    clock,
    logger: silent,
    metrics,
    silentAfterMs: 5 * 60_000,
    watchdogIntervalMs: 30_000,
  });
  metrics.watchFreshness('StatefulSet', () => sup.secondsSinceSignal());
  sup.start();
  made[0]!.list([]);
  for (let i = 0; i < 20; i++) {
    await clock.advance(60_000);
    made[0]!.bookmark();
  }
  assert.equal(made.length, 1, 'bookmarks every minute: no restart in 20 minutes');
  await clock.advance(4 * 60_000);
  assert.equal(sup.secondsSinceSignal(), 240);
  assert.match(await metrics.registry.getSingleMetricAsString('kube_latch_watcher_informer_freshness_seconds'), /kind="StatefulSet"\} 240/);
  await clock.advance(60_000);
  assert.equal(made.length, 2, 'silent for 5 minutes: restarted');
  assert.equal(sup.restarts.silent, 1);
  assert.equal(made[0]!.stopped, true);
  // the new one also stays silent: restarted again only after another full silent period
  await clock.advance(4 * 60_000);
  assert.equal(made.length, 2);
  await clock.advance(60_000);
  assert.equal(made.length, 3);
  await sup.stop();
});

test('informers: a relist after a restart removes objects deleted while we were away', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const r = recorder();
  const sup = new SupervisedInformer({ resource: DEPLOYMENT }, factory, r.handlers, { clock, logger: silent });
  sup.start();
  made[0]!.list([obj('a'), obj('b'), obj('c')]);
  made[0]!.fail(new Error('watch closed'));
  made[0]!.emit('update', obj('zombie')); // late callback from the old informer: ignored
  await clock.advance(1000);
  made[1]!.list([obj('a'), obj('c')]);
  assert.deepEqual(r.seen, ['+a', '+b', '+c', '-b', '+a', '+c']);
  assert.deepEqual(sup.objects().map((o) => o.metadata!.name).sort(), ['a', 'c']);
  await sup.stop();
});

test('toWorkload: replicas, defaults and identity', () => {
  assert.deepEqual(toWorkload(DEPLOYMENT, obj('web', 7)), {
    ref: { namespace: 'prod', kind: 'Deployment', name: 'web' },
    apiVersion: 'apps/v1',
    uid: 'u-web',
    replicas: 7,
    annotations: { a: 'b' },
  });
  assert.equal(toWorkload(DEPLOYMENT, obj('web'))!.replicas, 1, 'missing replicas counts as 1');
  assert.equal(toWorkload(DEPLOYMENT, obj('web', 0))!.replicas, 0);
  assert.equal(toWorkload(DEPLOYMENT, { metadata: { name: 'x' } }), undefined, 'no namespace');
});

test('toHpa: scale target, min default 1, max required', () => {
  const h = (spec: unknown) => ({ metadata: { name: 'h', namespace: 'prod' }, spec }) as KubernetesObject;
  assert.deepEqual(toHpa(h({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 30 })), {
    namespace: 'prod',
    name: 'h',
    target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    min: 1,
    max: 30,
  });
  assert.equal(toHpa(h({ scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 3, maxReplicas: 30 }))!.min, 3);
  assert.equal(toHpa(h({ scaleTargetRef: { kind: 'Deployment', name: 'web' } })), undefined);
});

test('startInformers: one selector-filtered informer per workload kind plus all HPAs, fed into the sink', async () => {
  const clock = new ManualClock();
  const { made, factory } = factoryRig();
  const got: string[] = [];
  const sink = {
    upsertWorkload: (o: WorkloadObservation) => got.push(`w+${o.ref.kind}/${o.ref.name}=${o.replicas}`),
    removeWorkload: (r: WorkloadRef) => got.push(`w-${r.kind}/${r.name}`),
    upsertHpa: (h: HpaObservation) => got.push(`h+${h.name}→${h.target.name}`),
    removeHpa: (_ns: string, name: string) => got.push(`h-${name}`),
  };
  const metrics = new WatcherMetrics();
  const inf = startInformers([DEPLOYMENT, STATEFULSET], factory, sink, { clock, logger: silent, metrics });
  assert.deepEqual(made.map((m) => [m.spec.resource.kind, m.spec.labelSelector]), [
    ['Deployment', ENABLED_SELECTOR],
    ['StatefulSet', ENABLED_SELECTOR],
    [HPA.kind, undefined],
  ]);
  made[0]!.list([obj('web', 3)]);
  made[1]!.list([obj('db', 2)]);
  made[2]!.list([obj('web-hpa', undefined, { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, maxReplicas: 9 } })]);
  made[0]!.emit('delete', obj('web'));
  made[2]!.emit('delete', obj('web-hpa'));
  assert.deepEqual(got, ['w+Deployment/web=3', 'w+StatefulSet/db=2', 'h+web-hpa→web', 'w-Deployment/web', 'h-web-hpa']);
  const fresh = await metrics.registry.getSingleMetricAsString('kube_latch_watcher_informer_freshness_seconds');
  assert.match(fresh, /kind="HorizontalPodAutoscaler"\} 0/);
  await inf.stop();
  assert.equal(clock.pending, 0);
});
