// Universal properties of decide(): every patch applies to the object as received and leaves replicas, the
// memory and the latch marker as the rule says, dry-run gets the same answer, and the warning rules hold
// for any replica count the API allows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { decide } from '../../../src/admission/decide.ts';
import type { AdmissionReview, KubeObject, ManagedFieldsEntry } from '../../../src/admission/review.ts';
import { decodePatch, managed, review, workload } from '../../helpers/reviews.ts';

const DECLARED = 'kube-latch.io/declared';
const LATCHED = 'kube-latch.io/latched';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const INT32_MAX = 2_147_483_647;

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
/** Small counts (where the rules meet) and any count the API allows. */
const replicas = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: INT32_MAX }));
const bound = fc.oneof(fc.constantFrom('0', '2', '5', '50', '100', '1000'), fc.integer({ min: 0, max: 9_999_999_999 }).map(String));

const policyAnnotations = fc.record(
  {
    'kube-latch.io/ladder': fc.constantFrom('1-2-5', 'sig1', 'decade', 'step:10', 'exact'),
    'kube-latch.io/tolerance': fc.constantFrom('2', '3.2', '4', '1.6', '1000000'),
    'kube-latch.io/min-replicas': bound,
    'kube-latch.io/max-replicas': bound,
  },
  { requiredKeys: [] },
);

const MANAGER = 'kustomize-controller';

/** Random but realistic UPDATE and CREATE reviews, including the shapes that trip patches up. */
const reviews: fc.Arbitrary<AdmissionReview> = fc
  .record({
    op: fc.constantFrom('CREATE', 'UPDATE'),
    sent: opt(replicas),
    v: opt(replicas),
    // a remembered value may be anything a user wrote: longer than ten digits is no memory
    rec: opt(fc.oneof(replicas, fc.integer({ min: 10_000_000_000, max: 999_999_999_999_999 }))),
    lat: opt(fc.oneof(replicas.map(String), fc.constantFrom('', 'x', ' 7'))),
    sentIsV: fc.boolean(),
    sentIsLat: fc.boolean(),
    carryRec: fc.boolean(), // the applier carries the stored annotations along (SSA/CSA keep unowned fields)
    carryLat: fc.boolean(),
    annotationsShape: fc.constantFrom('absent', 'null', 'empty', 'other'),
    policy: policyAnnotations,
    fieldManager: fc.constantFrom(undefined, MANAGER, 'kubectl-client-side-apply', 'kube-latch-watcher'),
    ssa: fc.constantFrom('none', 'owned', 'unowned', 'hpa', 'other-manager', 'subresource'),
    csa: fc.constantFrom('none', 'declares', 'drops', 'stale', 'garbage'),
    oldCsa: fc.boolean(),
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'Rollout'),
    dryRun: fc.boolean(),
  })
  .map((x) => {
    const sent = x.sentIsLat && x.lat !== undefined && /^\d+$/.test(x.lat) ? Number(x.lat) : x.sentIsV ? x.v : x.sent;
    const lastApplied = (r?: number) => JSON.stringify({ spec: r === undefined ? {} : { replicas: r } });
    const ann: Record<string, string> = { ...x.policy };
    if (x.annotationsShape === 'other') ann['team'] = 'web';
    if (x.carryRec && x.rec !== undefined) ann[DECLARED] = String(x.rec);
    if (x.carryLat && x.lat !== undefined) ann[LATCHED] = x.lat;
    if (x.csa === 'declares') ann[LAST_APPLIED] = lastApplied(sent ?? 1);
    if (x.csa === 'drops') ann[LAST_APPLIED] = lastApplied();
    if (x.csa === 'stale') ann[LAST_APPLIED] = lastApplied(x.rec ?? 3);
    if (x.csa === 'garbage') ann[LAST_APPLIED] = '{"spec":';
    const annotations = Object.keys(ann).length > 0 ? ann : x.annotationsShape === 'null' ? null : x.annotationsShape === 'empty' ? {} : undefined;
    const hpa = managed('kube-controller-manager', true, { operation: 'Update', subresource: 'scale' });
    const mf: ManagedFieldsEntry[] | undefined =
      x.ssa === 'owned' ? [managed(MANAGER, true)]
      : x.ssa === 'unowned' ? [managed(MANAGER, false)]
      : x.ssa === 'hpa' ? [managed(MANAGER, false), hpa]
      : x.ssa === 'other-manager' ? [managed('argocd-controller', true)]
      : x.ssa === 'subresource' ? [managed(MANAGER, true, { subresource: 'scale' })]
      : undefined;
    const object = workload({ kind: x.kind, replicas: sent, annotations, managedFields: mf });
    const oldAnn: Record<string, string> = { ...x.policy };
    if (x.rec !== undefined) oldAnn[DECLARED] = String(x.rec);
    if (x.lat !== undefined) oldAnn[LATCHED] = x.lat;
    if (x.oldCsa) oldAnn[LAST_APPLIED] = lastApplied(x.v ?? 1);
    const oldObject = x.op === 'UPDATE' ? workload({ kind: x.kind, replicas: x.v, annotations: oldAnn }) : null;
    return review({ operation: x.op as 'CREATE' | 'UPDATE', object, oldObject, dryRun: x.dryRun, fieldManager: x.fieldManager });
  });

function applied(obj: KubeObject, patch: string | undefined): KubeObject {
  const ops = decodePatch(patch) as jsonpatch.Operation[];
  // validate=true: an add under a missing parent, or a replace of a missing path, throws, as it fails the apiserver
  return jsonpatch.applyPatch(structuredClone(obj), ops, true, false).newDocument as KubeObject;
}

test('every patch applies to the object as received, and only touches replicas, the memory and the marker', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const obj = rv.request.object!;
      const out = applied(obj, decide(rv).review.response.patch);
      const strip = (o: KubeObject) => {
        const c = structuredClone(o);
        if (c.spec) delete c.spec.replicas;
        const a = c.metadata?.annotations;
        if (a) for (const k of [DECLARED, LATCHED]) delete a[k];
        if (a && Object.keys(a).length === 0) delete c.metadata!.annotations;
        if (c.metadata && c.metadata.annotations === null) delete c.metadata.annotations;
        return c;
      };
      assert.deepEqual(strip(out), strip(obj));
    }),
    { numRuns: 3000 },
  );
});

test('the patched object holds the target, the record and the marker as the rule says', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const { rule, review: answer } = decide(rv);
      if (rule === 'invalid-policy') return;
      const a = answer.response.auditAnnotations!;
      const out = applied(rv.request.object!, answer.response.patch);
      const ann = out.metadata?.annotations ?? {};
      const old = rv.request.oldObject?.metadata?.annotations ?? {};
      const sentAnn = rv.request.object?.metadata?.annotations ?? {};
      // missing counts as 1; a silent write leaves an absent field absent
      assert.equal(String(out.spec?.replicas ?? 1), a['target']);
      if (rule === 'silent') assert.equal(out.spec?.replicas, rv.request.object?.spec?.replicas, 'silent: no /spec/replicas op');
      assert.ok(Number(a['target']) <= INT32_MAX, 'the target fits int32');
      const memoryOnly = rule === 'undeclared' || rule === 'silent';
      if (rule === 'create' || !memoryOnly) assert.equal(ann[DECLARED], a['declared'], `${rule}: record = d`);
      else if (old[DECLARED] !== undefined && /^\d{1,10}$/.test(old[DECLARED].trim())) assert.equal(ann[DECLARED], String(Number(old[DECLARED].trim())), `${rule}: record = rec`);
      const moved = !memoryOnly && rule !== 'create' && String(Number(old[DECLARED]?.trim())) !== a['declared'];
      const byWatcher = (rv.request.options as { fieldManager?: unknown } | undefined)?.fieldManager === 'kube-latch-watcher';
      // Only the watcher's own write sets or removes the marker; anyone else's gets oldObject's back.
      if (byWatcher) assert.equal(ann[LATCHED], sentAnn[LATCHED], `${rule}: the watcher's marker as it asks`);
      else if (moved) assert.equal(ann[LATCHED], undefined, `${rule}: git moved, marker removed`);
      else assert.equal(ann[LATCHED], old[LATCHED], `${rule}: marker kept as oldObject holds it`);
      if (rule === 'silent') assert.equal(a['target'], a['sent']);
    }),
    { numRuns: 3000 },
  );
});

test('a dry-run request gets exactly the same answer, and the answer depends only on the request', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const wet = decide({ ...rv, request: { ...rv.request, dryRun: false } });
      const dry = decide({ ...rv, request: { ...rv.request, dryRun: true } });
      assert.deepEqual(dry.review, wet.review);
      assert.deepEqual(decide(structuredClone(rv)).review, wet.review);
    }),
    { numRuns: 1000 },
  );
});

test('exactly one warning when the target differs from sent, none when it is sent; always < 120 characters', () => {
  fc.assert(
    fc.property(reviews, (rv) => {
      const { rule, review: answer } = decide(rv);
      const r = answer.response;
      const a = r.auditAnnotations;
      const warnings = r.warnings ?? [];
      for (const w of warnings) assert.ok(w.length < 120, `${w.length}: ${w}`);
      if (rule !== 'invalid-policy' && rule !== 'create' && a) {
        const sent = String(rv.request.object?.spec?.replicas ?? 1);
        // DESIGN §3: exactly one warning whenever target ≠ sent, none when target = sent
        assert.equal(warnings.length, a['target'] !== sent ? 1 : 0, JSON.stringify({ a, warnings }));
        if (/; new latch point \d+ due$/.test(warnings[0] ?? '')) assert.equal(rule, 'unchanged');
      }
      assert.equal(r.uid, rv.request.uid);
      assert.equal(r.allowed, true);
    }),
    { numRuns: 3000 },
  );
});

test('warnings stay under 120 characters at the API’s limits: int32 counts, ten-digit bounds, a huge tolerance', () => {
  const counts = fc.oneof(fc.constantFrom(0, 1, 999_999_999, 1_000_000_000, INT32_MAX - 1, INT32_MAX), fc.integer({ min: 0, max: INT32_MAX }));
  // what parseReview lets through (any safe integer) and what a user may write into the memory
  const wide = fc.oneof(counts, fc.constantFrom(999_999_999_999_999, Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
  const bounds = fc.oneof(fc.constantFrom('0', '9999999999', '1000000000', '2147483647'), fc.integer({ min: 0, max: 9_999_999_999 }).map(String));
  fc.assert(
    fc.property(wide, wide, opt(wide), opt(wide), bounds, bounds, fc.constantFrom('2', '1.582', '99999999999999999999999999999999', '1.00000000000000000000000000000001'), fc.boolean(), (sent, v, rec, lat, lo, hi, tol, owns) => {
      const [min, max] = BigInt(lo) <= BigInt(hi) ? [lo, hi] : [hi, lo];
      const policy = { 'kube-latch.io/min-replicas': min, 'kube-latch.io/max-replicas': max, 'kube-latch.io/tolerance': tol };
      const old: Record<string, string> = { ...policy };
      if (rec !== undefined) old[DECLARED] = String(rec);
      if (lat !== undefined) old[LATCHED] = String(lat);
      const rv = review({
        operation: 'UPDATE',
        fieldManager: MANAGER,
        object: workload({ replicas: sent, annotations: { ...old }, managedFields: [managed(MANAGER, owns)] }),
        oldObject: workload({ replicas: v, annotations: old }),
      });
      for (const w of decide(rv).review.response.warnings ?? []) assert.ok(w.length < 120, `${w.length}: ${w}`);
    }),
    { numRuns: 5000 },
  );
});
