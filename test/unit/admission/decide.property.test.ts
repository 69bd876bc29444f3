// Universal properties of decide(): every patch applies to the object as received, re-deciding on the
// patched object changes nothing, dry-run gets the same answer, and the warning rules always hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { decide } from '../../../src/admission/decide.ts';
import type { AdmissionReview, KubeObject } from '../../../src/admission/review.ts';
import { decodePatch, managed, review, workload } from '../../helpers/reviews.ts';

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const replicas = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 100_000 }));

const policyAnnotations = fc.record(
  {
    'kube-latch.io/ladder': fc.constantFrom('1-2-5', 'sig1', 'decade', 'step:10', 'exact'),
    'kube-latch.io/tolerance': fc.constantFrom('2', '3.2', '4', '1.6'),
    'kube-latch.io/min-replicas': fc.constantFrom('0', '2', '5'),
    'kube-latch.io/max-replicas': fc.constantFrom('50', '100', '1000'),
  },
  { requiredKeys: [] },
);

/** Random but realistic UPDATE and CREATE reviews, including the shapes that trip patches up. */
const reviews: fc.Arbitrary<AdmissionReview> = fc
  .record({
    op: fc.constantFrom('CREATE', 'UPDATE'),
    d: opt(replicas),
    v: opt(replicas),
    rec: opt(replicas),
    carry: fc.boolean(), // the applier carries the stored annotation along (SSA/CSA keep unowned fields)
    annotationsShape: fc.constantFrom('absent', 'null', 'empty', 'other'),
    policy: policyAnnotations,
    ssa: fc.constantFrom('none', 'owned', 'unowned', 'hpa'),
    csa: fc.constantFrom('none', 'declares', 'drops'),
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'Rollout'),
    dryRun: fc.boolean(),
  })
  .map((x) => {
    const lastApplied = (r?: number) => JSON.stringify({ spec: r === undefined ? {} : { replicas: r } });
    const ann: Record<string, string> = { ...x.policy };
    if (x.annotationsShape === 'other') ann['team'] = 'web';
    if (x.carry && x.rec !== undefined) ann['kube-latch.io/declared'] = String(x.rec);
    if (x.csa === 'declares') ann['kubectl.kubernetes.io/last-applied-configuration'] = lastApplied(x.d ?? 1);
    if (x.csa === 'drops') ann['kubectl.kubernetes.io/last-applied-configuration'] = lastApplied();
    const annotations = Object.keys(ann).length > 0 ? ann : x.annotationsShape === 'null' ? null : x.annotationsShape === 'empty' ? {} : undefined;
    const mf =
      x.ssa === 'owned' ? [managed('kustomize-controller', true)]
      : x.ssa === 'unowned' ? [managed('kustomize-controller', false)]
      : x.ssa === 'hpa' ? [managed('kustomize-controller', false), managed('kube-controller-manager', true, { operation: 'Update', subresource: 'scale' })]
      : undefined;
    const object = workload({ kind: x.kind, replicas: x.d, annotations, managedFields: mf });
    const oldAnn: Record<string, string> = { ...x.policy };
    if (x.rec !== undefined) oldAnn['kube-latch.io/declared'] = String(x.rec);
    if (x.csa !== 'none') oldAnn['kubectl.kubernetes.io/last-applied-configuration'] = lastApplied(x.v ?? 1);
    const oldObject = x.op === 'UPDATE' ? workload({ kind: x.kind, replicas: x.v, annotations: oldAnn }) : null;
    return review({ operation: x.op as 'CREATE' | 'UPDATE', object, oldObject, dryRun: x.dryRun });
  });

function applied(obj: KubeObject, patch: string | undefined): KubeObject {
  const ops = decodePatch(patch) as jsonpatch.Operation[];
  // validate=true: an add under a missing parent, or a replace of a missing path, throws, as it fails the apiserver
  return jsonpatch.applyPatch(structuredClone(obj), ops, true, false).newDocument as KubeObject;
}

test('every patch applies to the object as received, and only touches replicas and the declared annotation', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const obj = rv.request.object!;
      const out = applied(obj, decide(rv).review.response.patch);
      const strip = (o: KubeObject) => {
        const c = structuredClone(o);
        if (c.spec) delete c.spec.replicas;
        const a = c.metadata?.annotations;
        if (a) delete a['kube-latch.io/declared'];
        if (a && Object.keys(a).length === 0) delete c.metadata!.annotations;
        if (c.metadata && c.metadata.annotations === null) delete c.metadata.annotations;
        return c;
      };
      assert.deepEqual(strip(out), strip(obj));
    }),
    { numRuns: 3000 },
  );
});

test('decide() is idempotent: re-deciding on the patched object gives no patch', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const first = decide(rv);
      const patched = applied(rv.request.object!, first.review.response.patch);
      const again = decide({ ...rv, request: { ...rv.request, object: patched } });
      assert.equal(again.review.response.patch, undefined, `first ${first.rule}, again ${again.rule}`);
    }),
    { numRuns: 3000 },
  );
});

test('a dry-run request gets exactly the same answer', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const wet = decide({ ...rv, request: { ...rv.request, dryRun: false } });
      const dry = decide({ ...rv, request: { ...rv.request, dryRun: true } });
      assert.deepEqual(dry.review, wet.review);
    }),
    { numRuns: 1000 },
  );
});

test('at most one warning, shorter than 120 characters, exactly when the target differs from the declared value', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const r = decide(rv).review.response;
      const a = r.auditAnnotations;
      const warnings = r.warnings ?? [];
      assert.ok(warnings.length <= 1);
      for (const w of warnings) assert.ok(w.length < 120, w);
      if (a && a['decision'] !== 'invalid-policy') assert.equal(warnings.length === 1, a['target'] !== a['declared'], JSON.stringify({ a, warnings }));
      assert.equal(r.uid, rv.request.uid);
      assert.equal(r.allowed, true);
    }),
    { numRuns: 3000 },
  );
});
