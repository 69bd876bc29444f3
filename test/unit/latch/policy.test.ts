import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ANNOTATIONS,
  band,
  inBand,
  latch,
  minTolerance,
  nearest,
  parseLadder,
  parseTolerance,
  policyBand,
  resolvePolicy,
  toleranceValid,
  type Policy,
} from '../../../src/latch/index.ts';

const minimums: Array<[ladder: string, min: string]> = [
  ['1-2-5', '1.582'],
  ['sig1', '1.415'],
  ['decade', '3.163'],
  ['step:10', '1.400'],
  ['step:1', '1.000'],
  ['step:2', '1.334'], // 3 → 4: 4/3
  ['exact', '1.000'],
];

for (const [ladder, min] of minimums) {
  test(`the smallest tolerance for ${ladder} is ${min}`, () => {
    assert.equal(minTolerance(parseLadder(ladder)), min);
  });
}

/** The definition itself, by brute force: every v in 1..limit lies in band(nearest(v)). */
function validByScan(ladder: string, tol: string, limit = 1_000_000): boolean {
  const l = parseLadder(ladder);
  const r = parseTolerance(tol);
  for (let v = 1; v <= limit; v++) if (!inBand(v, band(nearest(l, v), r))) return false;
  return true;
}

const validity: Array<[ladder: string, tol: string, valid: boolean]> = [
  ['1-2-5', '2', true],
  ['1-2-5', '1.582', true],
  ['1-2-5', '1.5812', true],
  ['1-2-5', '1.5811', false], // 316227/200000 = 1.581135
  ['1-2-5', '1.5', false],
  ['sig1', '1.415', true],
  ['sig1', '1.414', false],
  ['decade', '3.2', true],
  ['decade', '3', false],
  ['step:10', '1.4', true],
  ['step:10', '1.399', false],
  ['exact', '1', true],
];

for (const [ladder, tol, valid] of validity) {
  test(`${ladder} with tolerance ${tol} is ${valid ? 'valid' : 'invalid'} (checked against the definition)`, () => {
    assert.equal(toleranceValid(parseLadder(ladder), parseTolerance(tol)), valid);
    assert.equal(validByScan(ladder, tol), valid);
  });
}

test('v ∈ band(latch(v)) for every valid unbounded policy', () => {
  const ladders = ['1-2-5', 'sig1', 'decade', 'exact', 'step:1', 'step:3', 'step:10', 'step:64'];
  fc.assert(
    fc.property(fc.constantFrom(...ladders), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 1_000_000 }), (name, extra, v) => {
      const l = parseLadder(name);
      const tol = (Number(minTolerance(l)) + extra / 1000).toFixed(3);
      const res = resolvePolicy({ [ANNOTATIONS.ladder]: name, [ANNOTATIONS.tolerance]: tol });
      assert.ok(res.ok, `${name} ${tol} should be valid`);
      const p = res.policy;
      assert.ok(inBand(v, policyBand(p, latch(p, v))), `${name}/${tol}: ${v} ∉ band(${latch(p, v)})`);
    }),
    { numRuns: 3000 },
  );
});

test('the band never depends on the ladder', () => {
  const ladders = ['1-2-5', 'sig1', 'decade', 'exact', 'step:5'];
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.constantFrom('3.2', '4', '5.75'), (d, tol) => {
      const bands = ladders.map((l) => {
        const r = resolvePolicy({ [ANNOTATIONS.ladder]: l, [ANNOTATIONS.tolerance]: tol });
        assert.ok(r.ok);
        return policyBand(r.policy, d);
      });
      for (const b of bands) assert.deepEqual(b, bands[0]);
    }),
  );
});

test('latch clamps nearest to the bounds', () => {
  const p: Policy = { ladder: parseLadder('1-2-5'), tolerance: parseTolerance('2'), min: 3, max: 40 };
  assert.equal(latch(p, 1), 3);
  assert.equal(latch(p, 17), 20);
  assert.equal(latch(p, 45), 40);
  assert.equal(latch(p, 0), 3);
});

const resolved: Array<[name: string, ann: Record<string, string>, expect: { ok: true; ladder?: string; min?: number; max?: number } | { ok: false; annotation: string; match: RegExp }]> = [
  ['defaults', {}, { ok: true, ladder: '1-2-5', min: 0, max: Infinity }],
  ['sig1 with 1.5', { [ANNOTATIONS.ladder]: 'sig1', [ANNOTATIONS.tolerance]: '1.5' }, { ok: true, ladder: 'sig1' }],
  ['bounds', { [ANNOTATIONS.min]: '2', [ANNOTATIONS.max]: '300' }, { ok: true, min: 2, max: 300 }],
  ['unknown ladder', { [ANNOTATIONS.ladder]: 'fib' }, { ok: false, annotation: ANNOTATIONS.ladder, match: /unknown ladder/ }],
  ['step:0', { [ANNOTATIONS.ladder]: 'step:0' }, { ok: false, annotation: ANNOTATIONS.ladder, match: /N ≥ 1/ }],
  ['tolerance not decimal', { [ANNOTATIONS.tolerance]: 'two' }, { ok: false, annotation: ANNOTATIONS.tolerance, match: /plain decimal/ }],
  ['tolerance exponent', { [ANNOTATIONS.tolerance]: '2e0' }, { ok: false, annotation: ANNOTATIONS.tolerance, match: /plain decimal/ }],
  ['tolerance below 1', { [ANNOTATIONS.tolerance]: '0.5' }, { ok: false, annotation: ANNOTATIONS.tolerance, match: /below 1/ }],
  ['tolerance below the ladder minimum', { [ANNOTATIONS.tolerance]: '1.5' }, { ok: false, annotation: ANNOTATIONS.tolerance, match: /below 1\.582/ }],
  ['ladder needs more than the default tolerance', { [ANNOTATIONS.ladder]: 'decade' }, { ok: false, annotation: ANNOTATIONS.ladder, match: /3\.163/ }],
  ['negative min', { [ANNOTATIONS.min]: '-1' }, { ok: false, annotation: ANNOTATIONS.min, match: /non-negative integer/ }],
  ['fractional max', { [ANNOTATIONS.max]: '2.5' }, { ok: false, annotation: ANNOTATIONS.max, match: /non-negative integer/ }],
  ['min above max', { [ANNOTATIONS.min]: '10', [ANNOTATIONS.max]: '5' }, { ok: false, annotation: ANNOTATIONS.min, match: /exceeds/ }],
];

for (const [name, ann, expect] of resolved) {
  test(`resolvePolicy: ${name}`, () => {
    const r = resolvePolicy(ann);
    assert.equal(r.ok, expect.ok);
    if (r.ok && expect.ok) {
      if (expect.ladder) assert.equal(r.policy.ladder.name, expect.ladder);
      if (expect.min !== undefined) assert.equal(r.policy.min, expect.min);
      if (expect.max !== undefined) assert.equal(r.policy.max, expect.max);
    } else if (!r.ok && !expect.ok) {
      assert.equal(r.annotation, expect.annotation);
      assert.match(r.message, expect.match);
    }
  });
}

test('an HPA’s bounds apply only when the workload has no bound annotation', () => {
  const hpa = { min: 4, max: 30 };
  const a = resolvePolicy({}, {}, hpa);
  assert.ok(a.ok);
  assert.deepEqual([a.policy.min, a.policy.max], [4, 30]);
  const b = resolvePolicy({ [ANNOTATIONS.max]: '100' }, {}, hpa);
  assert.ok(b.ok);
  assert.deepEqual([b.policy.min, b.policy.max], [0, 100]);
});

test('configuration defaults apply and annotations override them', () => {
  const d = { ladder: 'sig1', tolerance: '1.5', min: 1, max: 500 };
  const a = resolvePolicy({}, d);
  assert.ok(a.ok);
  assert.deepEqual([a.policy.ladder.name, a.policy.min, a.policy.max], ['sig1', 1, 500]);
  const b = resolvePolicy({ [ANNOTATIONS.ladder]: 'decade', [ANNOTATIONS.tolerance]: '4' }, d);
  assert.ok(b.ok);
  assert.equal(b.policy.ladder.name, 'decade');
});
