// The Kubernetes half of the watcher against a real apiserver (the dev cluster): Lease-based leader
// election, informers with the opt-in label selector and HPAs, Rollouts through discovery, Events,
// and the assembled watcher latching a `kubectl scale` into (a fake) git.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KubeConfig, kubeDiscovery, loadKubeConfig, resolveWorkloadKinds } from '../../../src/kube/client.ts';
import { EventRecorder, kubeEventApi } from '../../../src/kube/events.ts';
import { kubeInformerFactory } from '../../../src/kube/informer.ts';
import { kubeLeaseStore, type LeaseStore } from '../../../src/kube/lease.ts';
import { startInformers, type WatcherInformers } from '../../../src/watcher/informers.ts';
import { LeaderElector } from '../../../src/watcher/leader.ts';
import { startWatcher, WatcherMetrics, type RunningWatcher } from '../../../src/watcher/index.ts';
import type { HpaObservation, WorkloadObservation, WorkloadRef } from '../../../src/watcher/types.ts';
import { startCluster, waitFor, type TestCluster } from '../../e2e/helpers/cluster.ts';
import { FakeGit, silent } from '../../unit/watcher/fakes.ts';

let c: TestCluster;
let kc: KubeConfig;

before(async () => {
  c = await startCluster({ nodes: 1 });
  kc = loadKubeConfig(c.kubeconfig);
});
after(async () => {
  await c?.stop();
});

const deployment = (name: string, replicas: number, labels: Record<string, string> = { 'kube-latch.io/enabled': 'true' }, annotations: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels, annotations },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
  },
});

/** A store whose requests can be made to hang, like a frozen or partitioned leader. */
function partitionable(store: LeaseStore): LeaseStore & { cut: boolean } {
  const hang = () => new Promise<never>(() => {});
  const s = {
    cut: false,
    description: store.description,
    get: () => (s.cut ? hang() : store.get()),
    create: (r: Parameters<LeaseStore['create']>[0]) => (s.cut ? hang() : store.create(r)),
    update: (r: Parameters<LeaseStore['update']>[0]) => (s.cut ? hang() : store.update(r)),
  };
  return s;
}

test('leader election on a real Lease: one leader, handover on release, takeover when the leader dies', async () => {
  const ns = await c.namespace('lease');
  const timing = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500, logger: silent };
  const stores = { a: partitionable(kubeLeaseStore(kc, ns, 'kube-latch')), b: partitionable(kubeLeaseStore(kc, ns, 'kube-latch')), c: partitionable(kubeLeaseStore(kc, ns, 'kube-latch')) };
  const a = new LeaderElector(stores.a, { identity: 'a', ...timing });
  const b = new LeaderElector(stores.b, { identity: 'b', ...timing });
  const third = new LeaderElector(stores.c, { identity: 'c', ...timing });
  const leaders = () => [a, b, third].filter((e) => e.isLeader()).map((e) => e.identity);
  let overlap = '';
  const sampler = setInterval(() => {
    if (leaders().length > 1) overlap ||= leaders().join('+');
  }, 20);
  try {
    a.start();
    await waitFor('a to lead', () => a.isLeader(), { timeoutMs: 10_000 });
    b.start();
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(leaders(), ['a']);
    const lease = await c.getJson(['lease', 'kube-latch', '-n', ns]);
    assert.equal(lease.spec.holderIdentity, 'a');
    assert.equal(lease.spec.leaseDurationSeconds, 4);
    assert.match(lease.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(Date.now() - Date.parse(lease.spec.renewTime) < 2000, 'renewed recently');

    // graceful: a releases, b takes over within about one retry period
    const released = Date.now();
    await a.stop();
    await waitFor('b to lead', () => b.isLeader(), { timeoutMs: 5000, intervalMs: 20 });
    const handover = Date.now() - released;
    assert.ok(handover < 2000, `handover after release took ${handover} ms (retry period 500)`);

    // crash: b freezes (its requests hang); c must wait out the lease, and b must stop first
    third.start();
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(leaders(), ['b']);
    stores.b.cut = true;
    const died = Date.now();
    await waitFor('b to step down', () => !b.isLeader(), { timeoutMs: 5000, intervalMs: 20 });
    const bStopped = Date.now() - died;
    await waitFor('c to lead', () => third.isLeader(), { timeoutMs: 10_000, intervalMs: 20 });
    const takeover = Date.now() - died;
    assert.ok(bStopped <= 3000 + 100, `frozen leader stopped after ${bStopped} ms (renew deadline 3000)`);
    assert.ok(takeover >= 3000 && takeover <= 4000 + 2 * 500 + 1000, `takeover after ${takeover} ms (lease 4000 + retry 500)`);
    const after = await c.getJson(['lease', 'kube-latch', '-n', ns]);
    assert.equal(after.spec.holderIdentity, 'c');
    assert.equal(after.spec.leaseTransitions, 2);
    assert.equal(overlap, '', 'never two leaders at once');
    process.stdout.write(`# lease handover after release: ${handover} ms; frozen leader stopped after ${bStopped} ms; takeover after ${takeover} ms\n`);
  } finally {
    clearInterval(sampler);
    stores.b.cut = false;
    await Promise.all([a.stop(), b.stop(), third.stop()]);
  }
});

test('discovery: Rollouts are watched only once their CRD is served', async () => {
  const before = await resolveWorkloadKinds(kubeDiscovery(kc));
  assert.deepEqual(before.kinds.map((k) => k.kind), ['Deployment', 'StatefulSet']);
  await c.apply(readFileSync(new URL('../../fixtures/crds/rollout.yaml', import.meta.url), 'utf8'));
  await c.kubectl(['wait', '--for=condition=Established', 'crd/rollouts.argoproj.io', '--timeout=30s']);
  const withCrd = await waitFor('rollouts in discovery', async () => {
    const r = await resolveWorkloadKinds(kubeDiscovery(kc));
    return r.kinds.some((k) => k.kind === 'Rollout') ? r : undefined;
  });
  assert.deepEqual(withCrd.kinds.map((k) => k.kind), ['Deployment', 'StatefulSet', 'Rollout']);
});

test('informers: opted-in workloads (all kinds) and HPAs reach the sink; scale, unlabel and delete too', async () => {
  const ns = await c.namespace('inf');
  const seen: string[] = [];
  const live = new Map<string, number>();
  const hpas = new Map<string, HpaObservation>();
  const key = (r: WorkloadRef) => `${r.kind}/${r.name}`;
  const sink = {
    upsertWorkload: (o: WorkloadObservation) => {
      if (o.ref.namespace !== ns) return;
      live.set(key(o.ref), o.replicas);
      seen.push(`+${key(o.ref)}=${o.replicas}`);
    },
    removeWorkload: (r: WorkloadRef) => {
      if (r.namespace !== ns) return;
      live.delete(key(r));
      seen.push(`-${key(r)}`);
    },
    upsertHpa: (h: HpaObservation) => {
      if (h.namespace === ns) hpas.set(h.name, h);
    },
    removeHpa: (namespace: string, name: string) => {
      if (namespace === ns) hpas.delete(name);
    },
  };
  await c.apply(
    [
      deployment('web', 3),
      deployment('other', 2, { app: 'other' }),
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db', labels: { 'kube-latch.io/enabled': 'true' } },
        spec: {
          replicas: 2,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'example.invalid/db:1' }] } },
        },
      },
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'Rollout',
        metadata: { name: 'canary', labels: { 'kube-latch.io/enabled': 'true' } },
        spec: { replicas: 4 },
      },
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web-hpa' },
        spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 1, maxReplicas: 60 },
      },
    ],
    { namespace: ns },
  );
  const metrics = new WatcherMetrics();
  const { kinds } = await resolveWorkloadKinds(kubeDiscovery(kc));
  let inf: WatcherInformers | undefined;
  try {
    inf = startInformers(kinds, kubeInformerFactory(kc), sink, { logger: silent, metrics });
    await waitFor('the opted-in workloads', () => live.size === 3 && live.get('Deployment/web') === 3 && live.get('StatefulSet/db') === 2 && live.get('Rollout/canary') === 4);
    assert.equal(live.has('Deployment/other'), false, 'not labelled: not watched');
    await waitFor('the HPA', () => hpas.get('web-hpa'));
    const { reason, ...bounds } = hpas.get('web-hpa')!;
    assert.deepEqual(bounds, { namespace: ns, name: 'web-hpa', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 1, max: 60 });
    // the HPA's targets for a latch commit's body; its current value may not be measured yet (no metrics API here)
    assert.match(reason ?? '', /^hpa web-hpa: cpu (\?|\d+%) \/ target 80%/);

    const t0 = Date.now();
    await c.kubectl(['scale', 'deployment/web', '--replicas=7', '-n', ns]);
    await waitFor('the scale to arrive', () => live.get('Deployment/web') === 7, { intervalMs: 10 });
    const latency = Date.now() - t0;
    await c.kubectl(['scale', 'rollout/canary', '--replicas=9', '-n', ns]);
    await waitFor('the Rollout scale to arrive', () => live.get('Rollout/canary') === 9);

    await c.kubectl(['label', 'deployment/web', 'kube-latch.io/enabled-', '-n', ns]);
    await waitFor('the unlabelled workload to leave', () => !live.has('Deployment/web'));
    await c.kubectl(['delete', 'statefulset/db', '-n', ns, '--wait=false']);
    await waitFor('the deleted workload to leave', () => !live.has('StatefulSet/db'));
    await c.kubectl(['delete', 'hpa/web-hpa', '-n', ns]);
    await waitFor('the HPA to leave', () => !hpas.has('web-hpa'));

    const fresh = await metrics.registry.getSingleMetricAsString('kube_latch_watcher_informer_freshness_seconds');
    for (const k of ['Deployment', 'StatefulSet', 'Rollout', 'HorizontalPodAutoscaler']) assert.match(fresh, new RegExp(`kind="${k}"\\} \\d`));
    assert.ok(inf.informers.every((i) => i.restarts.error === 0), 'no informer errors');
    process.stdout.write(`# informer latency (kubectl scale → sink): ${latency} ms\n`);
  } finally {
    await inf?.stop();
  }
});

test('events: repeats fold into one Event with a count, visible to kubectl', async () => {
  const ns = await c.namespace('ev');
  await c.apply(deployment('web', 3), { namespace: ns });
  const d = await c.getJson<KubernetesObject>(['deployment', 'web', '-n', ns]);
  const rec = new EventRecorder(kubeEventApi(kc), { component: 'kube-latch-watcher', instance: 'test', repeatIntervalMs: 0, logger: silent });
  const target = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'web', uid: d.metadata!.uid! };
  const ev = { type: 'Warning' as const, reason: 'LatchTargetAmbiguous', message: 'kube-latch: 2 places in git declare x: a.yaml:1, b.yaml:2; nothing written' };
  for (let i = 0; i < 3; i++) {
    rec.record(target, ev);
    await rec.flush();
  }
  const list = await c.getJson<{ items: Array<Record<string, any>> }>(['events', '-n', ns, '--field-selector', 'involvedObject.name=web,reason=LatchTargetAmbiguous']);
  assert.equal(list.items.length, 1);
  const e = list.items[0]!;
  assert.equal(e['count'], 3);
  assert.equal(e['type'], 'Warning');
  assert.equal(e['message'], ev.message);
  assert.equal(e['involvedObject'].uid, d.metadata!.uid);
  assert.equal(e['source'].component, 'kube-latch-watcher');
  const described = await c.kubectl(['describe', 'deployment', 'web', '-n', ns]);
  assert.match(described.stdout, /Warning\s+LatchTargetAmbiguous/);
});

test('the assembled watcher: a `kubectl scale` out of band is latched into git once; in-band moves are not', async () => {
  const ns = await c.namespace('latch');
  const git = new FakeGit();
  git.set({ namespace: ns, kind: 'Deployment', name: 'web' }, 20);
  await c.apply([deployment('web', 20), deployment('ghost', 5)], { namespace: ns });
  let w: RunningWatcher | undefined;
  try {
    w = await startWatcher({
      kubeconfig: kc,
      git,
      settleUpMs: 2000,
      settleDownMs: 3600_000,
      batchWindowMs: 1000,
      defaults: {},
      lease: { namespace: ns, name: 'kube-latch', identity: 'w1', leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 },
      logger: silent,
    });
    await waitFor('leadership', () => w!.leader.isLeader(), { timeoutMs: 10_000 });
    await waitFor('the workload', () => w!.engine.status({ namespace: ns, kind: 'Deployment', name: 'web' })?.verdict?.kind === 'in-band');

    const t0 = Date.now();
    await c.kubectl(['scale', 'deployment/web', '--replicas=47', '-n', ns]);
    await waitFor('the latch', () => git.writes.length === 1, { timeoutMs: 20_000, intervalMs: 20 });
    const exitToWrite = Date.now() - t0;
    assert.deepEqual(git.writes[0]!.map((l) => [l.ref.name, l.live, l.from, l.to]), [['web', 47, 20, 50]]);
    assert.ok(exitToWrite >= 3000, `not before settle-up + batch window (${exitToWrite} ms)`);

    await c.kubectl(['scale', 'deployment/web', '--replicas=30', '-n', ns]); // in band(50) = 25..100
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(git.writes.length, 1, 'an in-band move writes nothing');

    const events = await waitFor('the Events', async () => {
      const list = await c.getJson<{ items: Array<Record<string, any>> }>(['events', '-n', ns]);
      const reasons = list.items.map((e) => `${e['involvedObject'].name}:${e['reason']}`);
      return reasons.includes('web:LatchWritten') && reasons.includes('ghost:LatchTargetNotFound') ? list.items : undefined;
    });
    const written = events.find((e) => e['reason'] === 'LatchWritten')!;
    assert.match(written['message'], /git replicas 20 → 50 \(live 47, band 10-40\) in c1/);
    const metrics = await w.metrics.registry.metrics();
    assert.match(metrics, /kube_latch_watcher_latches_total\{direction="up"\} 1/);
    // the watcher is cluster-wide: other tests' opted-in workloads are unlocated in this fake git too
    assert.match(metrics, /kube_latch_watcher_unlocated_workloads\{reason="none"\} [1-9]/);
    assert.match(w.engine.status({ namespace: ns, kind: 'Deployment', name: 'ghost' })?.problem ?? '', /no replicas line for .*\/Deployment\/ghost/);
    assert.match(metrics, /kube_latch_watcher_leader 1/);
    process.stdout.write(`# band exit → write: ${exitToWrite} ms (settle-up 2000 + batch window 1000)\n`);
  } finally {
    await w?.stop();
  }
  const lease = await c.getJson(['lease', 'kube-latch', '-n', ns]);
  assert.equal(lease.spec.holderIdentity, '', 'a graceful stop releases the lease');
});

test('the watcher needs no more RBAC than docs/watcher.md lists', async () => {
  const ns = await c.namespace('rbac');
  const sys = await c.namespace('rbac-sys');
  const name = `kl-watcher-${ns}`;
  await c.apply([
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'watcher', namespace: sys } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [
        // patch: the kube-latch.io/latched marker after a push (DESIGN §4)
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['list', 'watch', 'patch'] },
        { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: ['list', 'watch', 'patch'] },
        { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: 'watcher', namespace: sys }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'lease', namespace: sys },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['kube-latch'], verbs: ['get', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lease', namespace: sys },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lease' },
      subjects: [{ kind: 'ServiceAccount', name: 'watcher', namespace: sys }],
    },
  ]);
  const token = (await c.kubectl(['create', 'token', 'watcher', '-n', sys, '--duration=1h'])).stdout.trim();
  const cluster = kc.getCurrentCluster()!;
  const restricted = new KubeConfig();
  restricted.loadFromOptions({
    clusters: [{ name: 'c', server: cluster.server, ...(cluster.caData ? { caData: cluster.caData } : {}), ...(cluster.caFile ? { caFile: cluster.caFile } : {}), skipTLSVerify: false }],
    users: [{ name: 'watcher', token }],
    contexts: [{ name: 'w', cluster: 'c', user: 'watcher' }],
    currentContext: 'w',
  });

  const git = new FakeGit();
  git.set({ namespace: ns, kind: 'Deployment', name: 'web' }, 20);
  await c.apply([deployment('web', 20), deployment('ghost', 5)], { namespace: ns });
  let w: RunningWatcher | undefined;
  try {
    w = await startWatcher({
      kubeconfig: restricted,
      git,
      settleUpMs: 1000,
      settleDownMs: 3600_000,
      batchWindowMs: 500,
      defaults: {},
      lease: { namespace: sys, name: 'kube-latch', identity: 'restricted', leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 },
      logger: silent,
      // the Event on ghost is re-reported on every tick, and each repeat patches its count
      tickMs: 500,
      eventRepeatIntervalMs: 0,
    });
    await waitFor('leadership', () => w!.leader.isLeader(), { timeoutMs: 10_000 });
    await c.kubectl(['scale', 'deployment/web', '--replicas=100', '-n', ns]);
    await waitFor('the latch', () => git.writes.length === 1, { timeoutMs: 20_000 });
    // After the push, the latch point is marked on the workload, under the watcher's own field manager.
    const marked = await waitFor('the latch marker', async () => {
      const d = await c.getJson(['deployment', 'web', '-n', ns, '--show-managed-fields']);
      return d.metadata.annotations?.['kube-latch.io/latched'] === '100' ? d : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(marked.spec.replicas, 100, 'the marker never touches replicas');
    const owners = (marked.metadata.managedFields as Array<{ manager: string; fieldsV1?: unknown }>).filter((m) => JSON.stringify(m.fieldsV1 ?? {}).includes('f:kube-latch.io/latched'));
    assert.deepEqual(owners.map((m) => m.manager), ['kube-latch-watcher']);
    await waitFor('the Events', async () => {
      const list = await c.getJson<{ items: Array<Record<string, any>> }>(['events', '-n', ns]);
      return list.items.some((e) => e['reason'] === 'LatchWritten') && list.items.some((e) => e['reason'] === 'LatchTargetNotFound' && e['count'] >= 3);
    });
    assert.ok(w.informers.informers.every((i) => i.restarts.error === 0), 'no informer was refused');
  } finally {
    await w?.stop();
  }
  const lease = await c.getJson(['lease', 'kube-latch', '-n', sys]);
  assert.equal(lease.spec.holderIdentity, '', 'released with update only');
});
