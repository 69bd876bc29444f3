// Git as the audit log: a latch commit's body says why it latched, from the workload's HPA status at the
// moment the latch fell due. hpaReason() formats it; toHpa() carries it; the engine puts it on the latch;
// the commit message prints it after the workload's line.
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { commitMessage, renderMessage } from '../../../src/git/message.ts';
import { HPA } from '../../../src/kube/client.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { Engine } from '../../../src/watcher/engine.ts';
import { hpaReason, type HpaLikeForReason } from '../../../src/watcher/hpa-reason.ts';
import { toHpa } from '../../../src/watcher/informers.ts';
import { WatcherMetrics } from '../../../src/watcher/metrics.ts';
import { deployment, FakeEvents, FakeGit, FakeLeadership, silent } from './fakes.ts';

const cpu = (target: number, current?: number) => ({
  spec: { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } } },
  status: current === undefined ? undefined : { type: 'Resource', resource: { name: 'cpu', current: { averageUtilization: current, averageValue: '920m' } } },
});

function hpaObject(metrics: ReturnType<typeof cpu>[], desired?: number, extra: { spec?: unknown[]; status?: unknown[] } = {}): HpaLikeForReason {
  return {
    metadata: { name: 'web' },
    spec: { metrics: [...metrics.map((m) => m.spec), ...((extra.spec ?? []) as never[])] },
    status: {
      currentMetrics: [...metrics.flatMap((m) => (m.status ? [m.status] : [])), ...((extra.status ?? []) as never[])],
      ...(desired !== undefined ? { desiredReplicas: desired } : {}),
    },
  };
}

describe('hpaReason', () => {
  const cases: [string, HpaLikeForReason, string | undefined][] = [
    ['cpu utilisation and desired replicas', hpaObject([cpu(70, 92)], 48), 'hpa web: cpu 92% / target 70%, desired 48'],
    ['no status yet: the target with "?"', hpaObject([cpu(70)]), 'hpa web: cpu ? / target 70%'],
    [
      'pods and external metrics in the target terms, matched by name',
      hpaObject([cpu(70, 40)], 10000, {
        spec: [
          { type: 'Pods', pods: { metric: { name: 'requests_per_second' }, target: { type: 'AverageValue', averageValue: '100' } } },
          { type: 'External', external: { metric: { name: 'queue_depth' }, target: { type: 'Value', value: '30' } } },
        ],
        status: [
          { type: 'External', external: { metric: { name: 'queue_depth' }, current: { value: '12k' } } },
          { type: 'Pods', pods: { metric: { name: 'requests_per_second' }, current: { averageValue: '3' } } },
        ],
      }),
      'hpa web: cpu 40% / target 70%, requests_per_second 3 avg / target 100 avg, queue_depth 12k / target 30, desired 10000',
    ],
    [
      'a container resource names its container',
      {
        metadata: { name: 'web' },
        spec: { metrics: [{ type: 'ContainerResource', containerResource: { name: 'memory', container: 'app', target: { type: 'Utilization', averageUtilization: 80 } } }] },
        status: { currentMetrics: [{ type: 'ContainerResource', containerResource: { name: 'memory', container: 'app', current: { averageUtilization: 85 } } }], desiredReplicas: 3 },
      },
      'hpa web: app/memory 85% / target 80%, desired 3',
    ],
    ['no metrics, no status: nothing to say', { metadata: { name: 'web' }, spec: {} }, undefined],
    ['only desired replicas (metrics list empty)', { metadata: { name: 'web' }, spec: { metrics: [] }, status: { desiredReplicas: 4 } }, 'hpa web: desired 4'],
  ];
  for (const [name, obj, want] of cases) it(name, () => assert.equal(hpaReason(obj), want));

  it('a huge metric list is cut to one bounded line', () => {
    const many = Array.from({ length: 50 }, (_, i) => ({ type: 'Pods', pods: { metric: { name: `metric_${i}` }, target: { type: 'AverageValue', averageValue: '1' } } }));
    const r = hpaReason({ metadata: { name: 'web' }, spec: { metrics: many } })!;
    assert.ok(r.length <= 200, String(r.length));
    assert.ok(r.endsWith('…'));
  });
});

test('toHpa carries the reason beside the bounds', () => {
  const obj = { apiVersion: 'autoscaling/v2', kind: HPA.kind, metadata: { name: 'web', namespace: 'prod' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 100, metrics: [cpu(70).spec] }, status: { currentMetrics: [cpu(70, 92).status], desiredReplicas: 48 } };
  assert.deepEqual(toHpa(obj as never), { namespace: 'prod', name: 'web', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 2, max: 100, reason: 'hpa web: cpu 92% / target 70%, desired 48' });
});

test('commit body: the workload line ends with why it latched', () => {
  const ref = { namespace: 'prod', kind: 'Deployment', name: 'web' };
  const m = commitMessage([{ change: { type: 'replicas', ref, value: 50, live: 48, band: { lo: 10, hi: 40 }, reason: 'hpa web: cpu 92% / target 70%, desired 48' }, status: 'written', from: 20, file: 'a.yaml', line: 7 }]);
  assert.equal(m.title, 'kube-latch: prod/Deployment/web replicas 20 → 50');
  assert.equal(m.body, 'prod/Deployment/web: live 48, old band 10-40, new 50 (was 20) at a.yaml:7; hpa web: cpu 92% / target 70%, desired 48');
  const forged = commitMessage([{ change: { type: 'replicas', ref, value: 50, reason: 'hpa web: x\nKube-Latch-Change: {}' }, status: 'written', from: 20 }]);
  assert.equal(forged.body.split('\n').length, 1, 'a reason never adds a line (or a trailer)');
  assert.doesNotMatch(renderMessage(forged), /^Kube-Latch-Change/m);
});

test('engine: the latch carries the HPA status of the moment it fell due, not a later one', async () => {
  const S = 1000;
  const clock = new ManualClock();
  const git = new FakeGit();
  const engine = new Engine(
    { settleUpMs: 60 * S, settleDownMs: 3600 * S, batchWindowMs: 10 * S, defaults: {} },
    { git, leadership: new FakeLeadership(true), events: new FakeEvents(), metrics: new WatcherMetrics(), clock, logger: silent },
  );
  await engine.start();
  const hpa = (reason: string) => ({ namespace: 'prod', name: 'web', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 1, max: 1000, reason });
  git.set(deployment('web', 20).ref, 20);
  engine.upsertHpa(hpa('hpa web: cpu 92% / target 70%, desired 48'));
  engine.upsertWorkload(deployment('web', 48));
  await clock.advance(60 * S); // due now; flushed after the batch window
  engine.upsertHpa(hpa('hpa web: cpu 60% / target 70%, desired 48'));
  await clock.advance(10 * S);
  assert.deepEqual(git.writes.flat().map((l) => [l.to, l.reason]), [[50, 'hpa web: cpu 92% / target 70%, desired 48']]);
  await engine.stop();
});
