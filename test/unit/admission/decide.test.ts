import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type DecideConfig } from '../../../src/admission/decide.ts';
import type { AdmissionReview, KubeObject } from '../../../src/admission/review.ts';
import { decodePatch, ENABLED, managed, review, update, workload } from '../../helpers/reviews.ts';

const DECLARED = '/metadata/annotations/kube-latch.io~1declared';
const lastApplied = (replicas?: number) =>
  JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' }, spec: replicas === undefined ? { selector: {} } : { replicas, selector: {} } });

interface Expect {
  rule: string;
  /** the patch ops expected, in order; [] for none */
  ops: Array<{ op: string; path: string; value?: unknown }>;
  /** null: no warning */
  warning: RegExp | null;
  audit?: Record<string, string>;
}

const cases: Array<{ name: string; review: AdmissionReview; cfg?: DecideConfig; expect: Expect }> = [
  // --- pass through: allowed, no patch, no warning
  {
    name: 'a ConfigMap is not a workload',
    review: review({ operation: 'CREATE', object: workload({ kind: 'ConfigMap' }) }),
    expect: { rule: 'pass-through:not-workload', ops: [], warning: null },
  },
  {
    name: 'the /scale subresource is never touched',
    review: review({ operation: 'UPDATE', subResource: 'scale', object: workload({ replicas: 40 }), oldObject: workload({ replicas: 17 }) }),
    expect: { rule: 'pass-through:subresource', ops: [], warning: null },
  },
  {
    name: 'DELETE passes',
    review: review({ operation: 'DELETE', object: null, oldObject: workload({ replicas: 3 }) }),
    expect: { rule: 'pass-through:operation', ops: [], warning: null },
  },
  {
    name: 'CONNECT passes',
    review: review({ operation: 'CONNECT', object: workload({ replicas: 3 }) }),
    expect: { rule: 'pass-through:operation', ops: [], warning: null },
  },
  {
    name: 'a workload without the opt-in label passes',
    review: update(20, 17, undefined, { labels: { app: 'web' } }),
    expect: { rule: 'pass-through:not-opted-in', ops: [], warning: null },
  },
  {
    name: 'the opt-in label must be "true"',
    review: update(20, 17, undefined, { labels: { 'kube-latch.io/enabled': 'yes' } }),
    expect: { rule: 'pass-through:not-opted-in', ops: [], warning: null },
  },
  {
    name: 'a ReplicaSet owned by a Deployment passes even when ReplicaSets are configured',
    cfg: { extraWorkloads: ['apps/replicasets'] },
    review: review({
      operation: 'UPDATE',
      object: workload({ kind: 'ReplicaSet', replicas: 3, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true }] }),
      oldObject: workload({ kind: 'ReplicaSet', replicas: 5 }),
    }),
    expect: { rule: 'pass-through:owned-replicaset', ops: [], warning: null },
  },
  {
    name: 'ReplicaSets are not workloads unless configured',
    review: review({ operation: 'CREATE', object: workload({ kind: 'ReplicaSet', replicas: 3 }) }),
    expect: { rule: 'pass-through:not-workload', ops: [], warning: null },
  },
  // --- invalid policy: allowed, no patch, one warning naming the annotation
  {
    name: 'an unknown ladder',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/ladder': 'fib' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/ladder.*unknown ladder "fib"/ },
  },
  {
    name: 'step:0',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/ladder': 'step:0' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/ladder.*N ≥ 1/ },
  },
  {
    name: 'a tolerance below the ladder’s minimum names the minimum',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/tolerance': '1.2' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/tolerance.*1\.582/ },
  },
  {
    name: 'a tolerance that is not a plain decimal',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/tolerance': '2x' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/tolerance.*plain decimal/ },
  },
  {
    name: 'a bound that is not a non-negative integer',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/max-replicas': '-3' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/max-replicas.*non-negative integer/ },
  },
  {
    name: 'min above max',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/min-replicas': '9', 'kube-latch.io/max-replicas': '3' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/min-replicas.*exceeds/ },
  },
  // --- CREATE: target = clamp(d), record = d
  {
    name: 'CREATE records the declared value, adding the annotations map when absent',
    review: review({ operation: 'CREATE', object: workload({ replicas: 20 }) }),
    expect: { rule: 'create', ops: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-latch.io/declared': '20' } }], warning: null, audit: { decision: 'create', declared: '20', target: '20' } },
  },
  {
    name: 'CREATE without replicas counts as 1',
    review: review({ operation: 'CREATE', object: workload({ annotations: {} }) }),
    expect: { rule: 'create', ops: [{ op: 'add', path: '/spec/replicas', value: 1 }, { op: 'add', path: DECLARED, value: '1' }], warning: null },
  },
  {
    name: 'CREATE clamps to min-replicas and says so',
    review: review({ operation: 'CREATE', object: workload({ replicas: 3, annotations: { 'kube-latch.io/min-replicas': '5' } }) }),
    expect: { rule: 'create', ops: [{ op: 'replace', path: '/spec/replicas', value: 5 }, { op: 'add', path: DECLARED, value: '3' }], warning: /^kube-latch: set replicas 5 \(declared 3, band 2-6, bounds 5-inf\)$/ },
  },
  // --- UPDATE rules
  {
    name: 'in-band: git says 20, live 17 is kept',
    review: update(20, 17),
    expect: {
      rule: 'in-band',
      ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: DECLARED, value: '20' }],
      warning: /^kube-latch: kept replicas 17 \(declared 20, band 10-40\)$/,
      audit: { decision: 'in-band', declared: '20', live: '17', target: '17' },
    },
  },
  {
    name: 'in-band: git changes 20 → 25 while live 17 is in band(25)',
    review: update(25, 17, 20),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'replace', path: DECLARED, value: '25' }], warning: /kept replicas 17 \(declared 25, band 13-50\)/ },
  },
  {
    name: 'out-of-band: git changes to 100 while live is 17, git wins',
    review: update(100, 17, 20),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '100' }], warning: null, audit: { decision: 'out-of-band', declared: '100', live: '17', target: '100' } },
  },
  {
    name: 'out-of-band downward: git 5 while live 17',
    review: update(5, 17),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '5' }], warning: null },
  },
  {
    name: 'unchanged: git did not change its mind, live 45 kept and a new latch point is due',
    review: update(20, 45, 20),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 45 }], warning: /^kube-latch: kept replicas 45 \(declared 20, band 10-40\); new latch point 50 due$/ },
  },
  {
    name: 'unchanged inside the band: no latch point due',
    review: update(20, 17, 20),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /^kube-latch: kept replicas 17 \(declared 20, band 10-40\)$/ },
  },
  {
    name: 'unchanged, live below min-replicas: clamped',
    review: update(20, 3, 20, { annotations: { 'kube-latch.io/min-replicas': '5' } }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 5 }], warning: /set replicas 5 \(declared 20, band 10-40, bounds 5-inf\); new latch point 5 due/ },
  },
  {
    name: 'out-of-band clamps to max-replicas',
    review: update(100, 17, 20, { annotations: { 'kube-latch.io/max-replicas': '80' } }),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 80 }, { op: 'replace', path: DECLARED, value: '100' }], warning: /set replicas 80 \(declared 100, band 50-200, bounds 0-80\)/ },
  },
  {
    name: 'declared equals live: record only',
    review: update(20, 20),
    expect: { rule: 'in-band', ops: [{ op: 'add', path: DECLARED, value: '20' }], warning: null },
  },
  {
    name: 'an annotations map without the key gets one added key, not a new map',
    review: update(20, 17, undefined, { annotations: { team: 'web' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: DECLARED, value: '20' }], warning: /kept replicas 17/ },
  },
  {
    name: 'tolerance 1.6 from the annotation gives an exact band',
    review: update(20, 13, undefined, { annotations: { 'kube-latch.io/tolerance': '1.6' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 13 }, { op: 'add', path: DECLARED, value: '20' }], warning: /band 13-32/ },
  },
  {
    name: 'tolerance 1.6: live 12 is out of band(20) = 13-32',
    review: update(20, 12, undefined, { annotations: { 'kube-latch.io/tolerance': '1.6' } }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '20' }], warning: null },
  },
  // --- undeclared: the applier dropped replicas and the apiserver defaulted it to 1
  {
    name: 'undeclared (server-side apply): no managedFields entry owns spec.replicas',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 1, annotations: { 'kube-latch.io/declared': '20' }, managedFields: [managed('kustomize-controller', false), managed('kube-controller-manager', false, { operation: 'Update', subresource: 'status' })] }),
      oldObject: workload({ replicas: 17, annotations: { 'kube-latch.io/declared': '20' } }),
    }),
    expect: { rule: 'undeclared', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /^kube-latch: kept replicas 17 \(replicas undeclared; apiserver default 1 ignored\)$/, audit: { decision: 'undeclared', declared: '1', live: '17', target: '17' } },
  },
  {
    name: 'not undeclared when the HPA’s /scale entry owns spec.replicas',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 17, annotations: { 'kube-latch.io/declared': '20' }, managedFields: [managed('kustomize-controller', false), managed('kube-controller-manager', true, { operation: 'Update', subresource: 'scale' })] }),
      oldObject: workload({ replicas: 17, annotations: { 'kube-latch.io/declared': '20' } }),
    }),
    // spec.replicas 17 and the carried memory 20 are exactly the answer for declared 20: nothing to change.
    expect: { rule: 'unchanged', ops: [], warning: /kept replicas 17 \(declared 20, band 10-40\)/ },
  },
  {
    name: 'server-side apply that owns replicas is a declaration',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 20, managedFields: [managed('kustomize-controller', true)] }),
      oldObject: workload({ replicas: 17 }),
    }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: '/metadata/annotations', value: { 'kube-latch.io/declared': '20' } }], warning: /kept replicas 17 \(declared 20/ },
  },
  {
    name: 'undeclared (client-side apply): last-applied drops replicas that the old one had',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 1, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied() }, managedFields: [managed('kubectl-client-side-apply', true, { operation: 'Update' })] }),
      oldObject: workload({ replicas: 17, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(20) } }),
    }),
    expect: { rule: 'undeclared', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /replicas undeclared/ },
  },
  {
    name: 'client-side apply that still declares replicas is not undeclared',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 25, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(25) } }),
      oldObject: workload({ replicas: 17, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(20) } }),
    }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: DECLARED, value: '25' }], warning: /kept replicas 17 \(declared 25/ },
  },
  {
    name: 'client-side apply: an unparsable last-applied is ignored',
    review: review({
      operation: 'UPDATE',
      object: workload({ replicas: 1, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{not json' } }),
      oldObject: workload({ replicas: 17, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied(20) } }),
    }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '1' }], warning: null },
  },
  {
    name: 'spec.replicas sent as null is replaced, not added',
    review: review({ operation: 'UPDATE', object: workload({ replicas: null, annotations: {} }), oldObject: workload({ replicas: 2 }) }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 2 }, { op: 'add', path: DECLARED, value: '1' }], warning: /kept replicas 2 \(declared 1, band 1-2\)/ },
  },
  {
    name: 'missing oldObject replicas counts as 1',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 2, annotations: {} }), oldObject: workload({}) }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 1 }, { op: 'add', path: DECLARED, value: '2' }], warning: /kept replicas 1 \(declared 2, band 1-4\)/ },
  },
  {
    name: 'StatefulSet is a workload',
    review: update(50, 70, undefined, { kind: 'StatefulSet' }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 70 }, { op: 'add', path: DECLARED, value: '50' }], warning: /kept replicas 70 \(declared 50, band 25-100\)/ },
  },
  {
    name: 'Argo Rollout is a workload',
    review: update(10, 3, undefined, { kind: 'Rollout' }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '10' }], warning: null },
  },
  {
    name: 'decade ladder with tolerance 4',
    review: update(100, 30, undefined, { annotations: { 'kube-latch.io/ladder': 'decade', 'kube-latch.io/tolerance': '4' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 30 }, { op: 'add', path: DECLARED, value: '100' }], warning: /band 25-400/ },
  },
  {
    name: 'configuration defaults set the policy when no annotation does',
    cfg: { tolerance: '3' },
    review: update(20, 55),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 55 }, { op: 'add', path: DECLARED, value: '20' }], warning: /band 7-60/ },
  },
];

for (const c of cases) {
  test(`decide: ${c.name}`, () => {
    const d = decide(c.review, c.cfg);
    const r = d.review.response;
    assert.equal(d.review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(d.review.kind, 'AdmissionReview');
    assert.equal(r.uid, c.review.request.uid);
    assert.equal(r.allowed, true);
    assert.equal(d.rule, c.expect.rule);
    assert.deepEqual(decodePatch(r.patch), c.expect.ops);
    assert.equal(r.patchType, c.expect.ops.length ? 'JSONPatch' : undefined);
    if (c.expect.warning === null) assert.equal(r.warnings, undefined);
    else {
      assert.equal(r.warnings?.length, 1);
      assert.match(r.warnings[0]!, c.expect.warning);
      assert.ok(r.warnings[0]!.length < 120);
    }
    if (c.expect.rule.startsWith('pass-through')) assert.equal(r.auditAnnotations, undefined);
    if (c.expect.audit) assert.deepEqual(r.auditAnnotations, c.expect.audit);
  });
}

test('decide: the webhook’s own answer, sent again, is left alone (reinvocation)', () => {
  // The first pass kept live 17 for declared 20 and recorded 20; the re-sent object carries both.
  const again = review({
    operation: 'UPDATE',
    object: workload({ replicas: 17, annotations: { 'kube-latch.io/declared': '20' } }),
    oldObject: workload({ replicas: 17, annotations: { 'kube-latch.io/declared': '20' } }),
  });
  const d = decide(again);
  assert.equal(d.rule, 'unchanged');
  assert.equal(d.review.response.patch, undefined);
});

test('decide: a huge replica count still gives a warning under 120 characters', () => {
  const max = 2_147_483_647;
  for (const rv of [update(max, 1, max), update(1_000_000_000, max, 1_000_000_000, { annotations: { 'kube-latch.io/min-replicas': String(max) } })]) {
    const w = decide(rv).review.response.warnings ?? [];
    assert.equal(w.length, 1);
    assert.ok(w[0]!.length < 120, `${w[0]!.length}: ${w[0]}`);
  }
});

test('decide: pass-through keeps the uid of the request', () => {
  const rv = review({ operation: 'DELETE', object: null, oldObject: workload({ replicas: 3 }), uid: 'abc-123' });
  assert.deepEqual(decide(rv).review, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc-123', allowed: true } });
});

test('decide: reports kind, namespace and name for logs', () => {
  const d = decide(update(20, 17, undefined, { name: 'api', namespace: 'shop', kind: 'StatefulSet' }));
  assert.deepEqual([d.kind, d.namespace, d.name, d.patched, d.warnings], ['StatefulSet', 'shop', 'api', true, 1]);
});

export type { KubeObject };

test('decide: a CREATE whose rollout annotation records that this template failed gets a second warning, nothing else', () => {
  const obj = workload({ replicas: 20, annotations: { 'kube-latch.io/rollout': 'rev=8 images=web=registry.example/web:1.2.3 milestone=failed' } });
  const d = decide(review({ operation: 'CREATE', object: obj }));
  assert.equal(d.rule, 'create');
  assert.deepEqual(decodePatch(d.review.response.patch), [{ op: 'add', path: DECLARED, value: '20' }]);
  assert.equal(d.review.response.warnings?.length, 1);
  assert.match(d.review.response.warnings![0]!, /failed its rollout \(revision 8\)/);
  // Another template (a new image) is not the one that failed: no warning.
  const fixed = workload({ replicas: 20, annotations: { 'kube-latch.io/rollout': 'rev=8 images=web=registry.example/web:1.2.2 milestone=failed' } });
  assert.equal(decide(review({ operation: 'CREATE', object: fixed })).review.response.warnings, undefined);
});
