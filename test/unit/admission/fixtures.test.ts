import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decide } from '../../../src/admission/decide.ts';
import { parseReview } from '../../../src/admission/review.ts';
import { decodePatch } from '../../helpers/reviews.ts';

const load = (name: string) => parseReview(JSON.parse(readFileSync(new URL(`../../fixtures/admission/${name}`, import.meta.url), 'utf8')));

const table: Array<[file: string, rule: string, replicas: number | undefined, declared: string | undefined]> = [
  ['deployment-ssa.json', 'unchanged', 17, undefined],
  ['deployment-ssa-undeclared.json', 'undeclared', 17, undefined],
  ['deployment-ssa-latched.json', 'unchanged', 22, '50'],
  ['deployment-csa.json', 'in-band', 17, '25'],
  ['statefulset.json', 'unchanged', 70, undefined],
  ['rollout.json', 'create', undefined, '5'],
  ['scale-subresource.json', 'pass-through:subresource', undefined, undefined],
  ['delete.json', 'pass-through:operation', undefined, undefined],
  ['configmap.json', 'pass-through:not-workload', undefined, undefined],
  ['replicaset-owned.json', 'pass-through:not-workload', undefined, undefined],
];

for (const [file, rule, replicas, declared] of table) {
  test(`fixture ${file} → ${rule}`, () => {
    const d = decide(load(file));
    assert.equal(d.rule, rule);
    const ops = decodePatch(d.review.response.patch);
    assert.deepEqual(ops.find((o) => o.path === '/spec/replicas')?.value, replicas);
    const declaredOp = ops.find((o) => o.path === '/metadata/annotations/kube-latch.io~1declared' || o.path === '/metadata/annotations');
    const ann = declaredOp ? (typeof declaredOp.value === 'string' ? declaredOp.value : (declaredOp.value as Record<string, string>)['kube-latch.io/declared']) : undefined;
    assert.equal(ann, declared);
  });
}

test('fixture deployment-ssa-latched.json: git caught up with the latch, so the marker is removed', () => {
  const ops = decodePatch(decide(load('deployment-ssa-latched.json')).review.response.patch);
  assert.deepEqual(ops.filter((o) => o.path.endsWith('latched')), [{ op: 'remove', path: '/metadata/annotations/kube-latch.io~1latched' }]);
});

test('an owned ReplicaSet passes through even when ReplicaSets are configured as workloads', () => {
  assert.equal(decide(load('replicaset-owned.json'), { extraWorkloads: ['apps/replicasets'] }).rule, 'pass-through:owned-replicaset');
});
