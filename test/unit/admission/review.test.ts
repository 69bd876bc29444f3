import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseReview, ReviewError } from '../../../src/admission/review.ts';
import { decide } from '../../../src/admission/decide.ts';
import { review, workload } from '../../helpers/reviews.ts';

const good = () => structuredClone(review({ operation: 'UPDATE', object: workload({ replicas: 3 }), oldObject: workload({ replicas: 2 }) })) as unknown as Record<string, any>;

const bad: Array<[string, (r: Record<string, any>) => unknown, RegExp]> = [
  ['not an object', () => 'hello', /JSON object/],
  ['an array', () => [], /JSON object/],
  ['null', () => null, /JSON object/],
  ['wrong kind', (r) => ({ ...r, kind: 'Review' }), /kind must be "AdmissionReview"/],
  ['v1beta1', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion must be/],
  ['a 20,000-deep array as apiVersion', (r) => {
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    return { ...r, apiVersion: deep };
  }, /apiVersion must be "admission\.k8s\.io\/v1", got an array/],
  ['missing request', (r) => ({ ...r, request: undefined }), /request must be an object/],
  ['empty uid', (r) => (r.request.uid = '', r), /uid/],
  ['numeric uid', (r) => (r.request.uid = 7, r), /uid/],
  ['operation not a string', (r) => (r.request.operation = 1, r), /operation/],
  ['kind missing', (r) => (delete r.request.kind, r), /request.kind is required/],
  ['resource.group not a string', (r) => (r.request.resource.group = null, r), /request.resource.group/],
  ['object an array', (r) => (r.request.object = [], r), /request.object must be an object/],
  ['replicas a string', (r) => (r.request.object.spec.replicas = '3', r), /spec.replicas must be a non-negative integer/],
  ['replicas negative', (r) => (r.request.oldObject.spec.replicas = -1, r), /oldObject.spec.replicas/],
  ['replicas fractional', (r) => (r.request.object.spec.replicas = 1.5, r), /spec.replicas/],
  ['labels not strings', (r) => (r.request.object.metadata.labels = { a: 1 }, r), /labels\["a"\] must be a string/],
  ['annotations an array', (r) => (r.request.object.metadata.annotations = [], r), /annotations must be a map/],
  ['managedFields not a list', (r) => (r.request.object.metadata.managedFields = {}, r), /managedFields/],
  ['dryRun a string', (r) => (r.request.dryRun = 'true', r), /dryRun must be a boolean/],
  ['subResource a number', (r) => (r.request.subResource = 1, r), /subResource must be a string/],
];

for (const [name, mutate, re] of bad) {
  test(`parseReview rejects ${name} with one line`, () => {
    assert.throws(
      () => parseReview(mutate(good())),
      (e: unknown) => e instanceof ReviewError && re.test(e.message) && !e.message.includes('\n'),
    );
  });
}

test('parseReview accepts a well-formed review', () => {
  assert.equal(parseReview(good()).request.operation, 'UPDATE');
});

test('anything JSON either parses into a review that decide() answers, or is a ReviewError', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      try {
        const r = parseReview(v);
        decide(r);
      } catch (e) {
        assert.ok(e instanceof ReviewError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
  // Mutations of a valid review: every field replaced by arbitrary JSON.
  const paths = [['request', 'object', 'metadata'], ['request', 'object', 'spec'], ['request', 'oldObject'], ['request', 'object', 'metadata', 'annotations'], ['request', 'object', 'metadata', 'managedFields'], ['request', 'kind'], ['request', 'operation']];
  fc.assert(
    fc.property(fc.constantFrom(...paths), fc.jsonValue(), (path, value) => {
      const r = good();
      let o: any = r;
      for (const k of path.slice(0, -1)) o = o[k];
      o[path[path.length - 1]!] = value;
      try {
        decide(parseReview(r));
      } catch (e) {
        assert.ok(e instanceof ReviewError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
