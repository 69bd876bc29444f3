import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseYScale, LOG_RATIO, timeAxis } from '../../../src/report/index.ts';

// The rule: log when max / min of the positive values exceeds LOG_RATIO (20), linear otherwise.
const yCases: Array<[string, number[], 'log' | 'linear', number, number]> = [
  ['flat', [5, 5, 5], 'linear', 0, 5],
  ['ratio exactly 20 stays linear', [1, 20], 'linear', 0, 20],
  ['ratio 21 goes log', [1, 21], 'log', 1, 50],
  ['zeros are ignored by the rule', [0, 3, 40], 'linear', 0, 40],
  ['NASA-like 1..200', [1, 37, 200], 'log', 1, 200],
  ['log ends snap to 1-2-5 points', [3, 170], 'log', 2, 200],
  ['all zero', [0, 0], 'linear', 0, 1],
  ['linear steps of 1-2-5 × 10^n', [12, 130], 'linear', 0, 140],
  ['large', [4000, 7100], 'linear', 0, 8000],
];
for (const [name, values, kind, lo, hi] of yCases) {
  test(`y scale: ${name} → ${kind} [${lo}, ${hi}]`, () => {
    const y = chooseYScale(values);
    assert.equal(y.kind, kind);
    assert.equal(y.lo, lo);
    assert.equal(y.hi, hi);
  });
}

test('LOG_RATIO is the documented 20', () => assert.equal(LOG_RATIO, 20));

test('a log scale keeps a strip for zero when the data has zeros, and labels it', () => {
  const y = chooseYScale([0, 1, 500]);
  assert.equal(y.kind, 'log');
  assert.equal(y.ticks[0], 0);
  assert.equal(y.frac(0), 0);
  assert.ok(y.frac(1) > 0.05, 'the smallest positive value sits above the zero strip');
});

test('y scale: every value maps into [0, 1], monotonically, and the domain covers the data', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 40 }), (values) => {
      const y = chooseYScale(values);
      const sorted = [...values].sort((a, b) => a - b);
      for (let i = 0; i < sorted.length; i++) {
        const f = y.frac(sorted[i]!);
        assert.ok(f >= 0 && f <= 1);
        if (i > 0) assert.ok(f >= y.frac(sorted[i - 1]!));
      }
      assert.ok(y.hi >= sorted[sorted.length - 1]!);
      assert.ok(y.frac(sorted[sorted.length - 1]!) <= 1);
      for (const t of y.ticks) assert.ok(t >= 0 && t <= y.hi);
      assert.ok(y.ticks.length >= 1 && y.ticks.length <= 12, `ticks ${y.ticks}`);
    }),
  );
});

const tCases: Array<[number, string, number[]]> = [
  [0, 'seconds', [0]],
  [60, 'seconds', [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60]],
  [3600, 'minutes', [0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400, 2700, 3000, 3300, 3600]],
  [86400, 'hours', [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24].map((h) => h * 3600)],
  [14 * 86400, 'days', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14].map((d) => d * 86400)],
  [62 * 86400, 'days', [0, 7, 14, 21, 28, 35, 42, 49, 56].map((d) => d * 86400)],
];
for (const [span, unit, ticks] of tCases) {
  test(`time axis over ${span}s is in ${unit}`, () => {
    const a = timeAxis(span);
    assert.equal(a.unit, unit);
    assert.deepEqual(a.ticks, ticks);
  });
}

test('time axis: at most 16 ticks, inside the span, for any span up to ten years', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 * 365 * 86400 }), (span) => {
      const a = timeAxis(span);
      assert.ok(a.ticks.length >= 1 && a.ticks.length <= 17);
      assert.equal(a.ticks[0], 0);
      for (const t of a.ticks) assert.ok(t <= span + 1e-6);
    }),
  );
});
