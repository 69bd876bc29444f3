import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { band, parseDecimal, parseTolerance } from '../../../src/latch/index.ts';

const cases: Array<[d: number, r: string, lo: number, hi: number]> = [
  [20, '2', 10, 40],
  [17, '2', 9, 34],
  [20, '1.5', 14, 30],
  [3, '1.6', 2, 4],
  [1, '2', 1, 2],
  [0, '2', 0, 0],
  [0, '1.5', 0, 0],
  [20, '1.15', 18, 23], // 20 × 1.15 is 22.999… in floats
  [10, '2.3', 5, 23], // 10 × 2.3 is 22.999… in floats
  [100, '1', 100, 100],
  [50, '2.50', 20, 125],
  [2_147_483_647, '2', 1_073_741_824, 4_294_967_294],
];

for (const [d, r, lo, hi] of cases) {
  test(`band(${d}) with tolerance ${r} = ${lo}..${hi}`, () => {
    assert.deepEqual(band(d, parseTolerance(r)), { lo, hi });
  });
}

test('band(d) holds exactly the integers v with d/r ≤ v ≤ d·r (exact rationals)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.integer({ min: 1, max: 99 }),
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: -3, max: 3 }),
      (d, whole, frac, dv) => {
        const text = `${whole}.${String(frac).padStart(4, '0')}`;
        const r = parseDecimal(text)!;
        const b = band(d, r);
        for (const v of [b.lo + dv, b.hi + dv]) {
          if (v < 0) continue;
          // v ∈ band ⟺ d·q ≤ v·p and v·q ≤ d·p
          const inside = BigInt(d) * r.q <= BigInt(v) * r.p && BigInt(v) * r.q <= BigInt(d) * r.p;
          assert.equal(v >= b.lo && v <= b.hi, inside, `d=${d} r=${text} v=${v}`);
        }
      },
    ),
    { numRuns: 2000 },
  );
});
