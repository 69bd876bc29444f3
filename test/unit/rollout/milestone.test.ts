import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { quantise, rolloutState } from '../../../src/rollout/milestone.ts';
import { deploy, rs } from './objects.ts';

const v2 = { app: 'registry.example/web:2' };
const inFlight = (o: Parameters<typeof deploy>[0] = {}) => deploy({ rev: 2, images: v2, reason: 'ReplicaSetUpdated', message: 'ReplicaSet "web-2" is progressing.', ...o });

describe('rolloutState: the milestone of a Deployment and its ReplicaSets', () => {
  const cases: Array<{ name: string; d: ReturnType<typeof deploy>; rss: ReturnType<typeof rs>[]; want: string | undefined }> = [
    { name: 'settled: complete', d: deploy({ rev: 1 }), rss: [rs({ rev: 1, desired: 4 })], want: 'complete' },
    {
      name: 'new ReplicaSet created, nothing available: started',
      d: inFlight({ reason: 'NewReplicaSetCreated' }),
      rss: [rs({ rev: 1, desired: 4 }), rs({ rev: 2, desired: 1, available: 0 })],
      want: 'rev=2 images=app=registry.example/web:2 milestone=started',
    },
    { name: '1 of 4 available: 25%', d: inFlight(), rss: [rs({ rev: 1, desired: 3 }), rs({ rev: 2, desired: 2, available: 1 })], want: 'rev=2 images=app=registry.example/web:2 milestone=25%' },
    { name: '2 of 4: 50%', d: inFlight(), rss: [rs({ rev: 1, desired: 2 }), rs({ rev: 2, desired: 3, available: 2 })], want: 'rev=2 images=app=registry.example/web:2 milestone=50%' },
    { name: '3 of 4: 75%', d: inFlight(), rss: [rs({ rev: 1, desired: 1 }), rs({ rev: 2, desired: 4, available: 3 })], want: 'rev=2 images=app=registry.example/web:2 milestone=75%' },
    {
      name: '4 of 4 with old pods still terminating and no condition yet: 75%, never more than 75% before complete',
      d: inFlight(),
      rss: [rs({ rev: 1, desired: 0, current: 1, available: 0 }), rs({ rev: 2, desired: 4, available: 4 })],
      want: 'rev=2 images=app=registry.example/web:2 milestone=75%',
    },
    { name: 'ready but not yet available (minReadySeconds) does not count', d: inFlight(), rss: [rs({ rev: 1, desired: 3 }), rs({ rev: 2, desired: 2, ready: 2, available: 0 })], want: 'rev=2 images=app=registry.example/web:2 milestone=started' },
    { name: '5 of 10 available: 50%', d: inFlight({ replicas: 10 }), rss: [rs({ rev: 1, desired: 6 }), rs({ rev: 2, desired: 6, available: 5 })], want: 'rev=2 images=app=registry.example/web:2 milestone=50%' },
    { name: '2 of 3: 50% (quantised down)', d: inFlight({ replicas: 3 }), rss: [rs({ rev: 1, desired: 1 }), rs({ rev: 2, desired: 3, available: 2 })], want: 'rev=2 images=app=registry.example/web:2 milestone=50%' },
    {
      name: 'ProgressDeadlineExceeded: failed',
      d: inFlight({ reason: 'ProgressDeadlineExceeded', status: 'False', message: 'ReplicaSet "web-2" has timed out progressing.' }),
      rss: [rs({ rev: 1, desired: 4 }), rs({ rev: 2, desired: 1, available: 0 })],
      want: 'rev=2 images=app=registry.example/web:2 milestone=failed',
    },
    {
      name: 'failed is reported even before the ReplicaSets are known',
      d: inFlight({ reason: 'ProgressDeadlineExceeded', status: 'False' }),
      rss: [],
      want: 'rev=2 images=app=registry.example/web:2 milestone=failed',
    },
    { name: 'complete after a rollout: the bare word', d: deploy({ rev: 2, images: v2 }), rss: [rs({ rev: 1, desired: 0 }), rs({ rev: 2, desired: 4 })], want: 'complete' },
    { name: 'the controller has not observed the new generation: nothing concluded', d: inFlight({ generation: 3, observedGeneration: 2 }), rss: [rs({ rev: 1, desired: 4 }), rs({ rev: 2, desired: 1, available: 0 })], want: undefined },
    { name: 'no revision annotation yet: nothing', d: { ...deploy(), metadata: { ...deploy().metadata, annotations: {} } }, rss: [], want: undefined },
    { name: 'new ReplicaSet not seen yet: nothing', d: inFlight(), rss: [rs({ rev: 1, desired: 4 })], want: undefined },
    { name: 'scaling up (one ReplicaSet, ReplicaSetUpdated) is not a rollout: nothing', d: deploy({ rev: 1, replicas: 8, reason: 'ReplicaSetUpdated' }), rss: [rs({ rev: 1, desired: 8, available: 4 })], want: undefined },
    { name: 'Recreate after the old pods are gone: nothing', d: inFlight(), rss: [rs({ rev: 1, desired: 0, current: 0 }), rs({ rev: 2, desired: 4, available: 2 })], want: undefined },
    { name: 'ReplicaSets of another Deployment are ignored', d: inFlight(), rss: [rs({ rev: 1, desired: 4, owner: 'other' }), rs({ rev: 2, desired: 4, available: 2 })], want: undefined },
    { name: 'a non-controller owner reference does not count', d: inFlight(), rss: [rs({ rev: 1, desired: 2 }), rs({ rev: 2, desired: 4, available: 2, controller: false })], want: undefined },
    { name: 'no Progressing condition and the new ReplicaSet complete: complete', d: deploy({ rev: 1, noCondition: true }), rss: [rs({ rev: 1, desired: 4 })], want: 'complete' },
    { name: 'no Progressing condition, still rolling: by ReplicaSets', d: deploy({ rev: 2, images: v2, noCondition: true }), rss: [rs({ rev: 1, desired: 2 }), rs({ rev: 2, desired: 2, available: 2 })], want: 'rev=2 images=app=registry.example/web:2 milestone=50%' },
    { name: 'spec.replicas 0 mid-rollout: started', d: inFlight({ replicas: 0 }), rss: [rs({ rev: 1, desired: 0, current: 1, available: 1 }), rs({ rev: 2, desired: 0, available: 0 })], want: 'rev=2 images=app=registry.example/web:2 milestone=started' },
    {
      name: 'init containers are part of the images',
      d: inFlight({ initImages: { migrate: 'registry.example/migrate:2' } }),
      rss: [rs({ rev: 1, desired: 4 }), rs({ rev: 2, desired: 1, available: 0 })],
      want: 'rev=2 images=app=registry.example/web:2,migrate=registry.example/migrate:2 milestone=started',
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(rolloutState(c.d, c.rss)?.value, c.want));
  }

  it('reports every ReplicaSet that holds or wants pods, newest first, with counts, and the condition', () => {
    const st = rolloutState(inFlight({ reason: 'ProgressDeadlineExceeded', status: 'False', message: 'timed out' }), [
      rs({ rev: 1, desired: 0, current: 0 }),
      rs({ rev: 2, desired: 4, current: 4, available: 4 }),
      rs({ rev: 3, desired: 1, current: 1, ready: 0, available: 0 }),
    ]);
    assert.ok(st);
    assert.equal(st.milestone, 'failed');
    assert.equal(st.message, 'timed out');
    assert.equal(st.reason, 'ProgressDeadlineExceeded');
    assert.deepEqual(
      st.replicaSets.map((r) => [r.name, r.revision, r.desired, r.current, r.ready, r.available, r.isNew]),
      [
        ['web-3', 3, 1, 1, 0, 0, false],
        ['web-2', 2, 4, 4, 4, 4, true],
      ],
    );
  });
});

describe('quantise', () => {
  const table: Array<[number, number, string]> = [
    [0, 4, 'started'], [1, 4, '25%'], [2, 4, '50%'], [3, 4, '75%'], [4, 4, '75%'], [9, 4, '75%'],
    [0, 0, 'started'], [1, 3, '25%'], [2, 3, '50%'], [3, 3, '75%'], [24, 100, 'started'], [25, 100, '25%'], [99, 100, '75%'], [1, 1, '75%'],
  ];
  for (const [a, d, want] of table) it(`${a} of ${d} → ${want}`, () => assert.equal(quantise(a, d), want));

  it('is monotone in the available count (property)', () => {
    const order = ['started', '25%', '50%', '75%'];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), (a, d) => {
        assert.ok(order.indexOf(quantise(a, d)) <= order.indexOf(quantise(a + 1, d)));
        // quantised down: the milestone's share never exceeds the real one
        const share = [0, 0.25, 0.5, 0.75][order.indexOf(quantise(a, d))]!;
        assert.ok(share * d <= Math.min(a, d));
      }),
    );
  });
});
