// The body budget of server.ts: reservations never exceed the limit, large bodies never take more than
// half of it, and every byte comes back on release.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createBodyBudget, LARGE_BODY_BYTES, type BodyReservation } from '../../../src/admission/body-budget.ts';

const MiB = 1024 * 1024;

describe('body budget', () => {
  const cases: Array<[string, number, number[], boolean[]]> = [
    ['a large body up to half, then small ones fill the rest', 8 * MiB, [4 * MiB - 1, ...Array(4).fill(MiB)], [true, true, true, true, true]],
    ['one byte past the limit is refused', 8 * MiB, [MiB, MiB, MiB, MiB, MiB, MiB, MiB, MiB, 1], [true, true, true, true, true, true, true, true, false]],
    ['large bodies stop at half: two 2 MiB fit in 8, a third does not', 8 * MiB, [2 * MiB, 2 * MiB, 2 * MiB], [true, true, false]],
    ['while large bodies hold their half, small ones still get the other half', 8 * MiB, [2 * MiB, 2 * MiB, 3 * MiB, MiB, MiB, MiB, MiB], [true, true, false, true, true, true, true]],
    ['exactly LARGE_BODY_BYTES counts as small', 4 * MiB, [LARGE_BODY_BYTES, LARGE_BODY_BYTES, LARGE_BODY_BYTES], [true, true, true]],
    ['a zero-length body always fits', 0, [0, 0], [true, true]],
  ];
  for (const [what, limit, sizes, want] of cases) {
    test(what, () => {
      const b = createBodyBudget(limit);
      assert.deepEqual(sizes.map((n) => b.reserve(n) !== undefined), want);
    });
  }

  test('a chunked body grows into the large half and is refused there, keeping what it held', () => {
    const b = createBodyBudget(8 * MiB);
    const big = b.reserve(3 * MiB)!;
    const chunked = b.reserve(0)!;
    assert.equal(chunked.grow(MiB), true);
    assert.equal(chunked.grow(2 * MiB), false, 'large half: 3 + 2 > 4 MiB');
    assert.equal(chunked.bytes, MiB);
    assert.equal(b.used, 4 * MiB);
    big.release();
    assert.equal(chunked.grow(2 * MiB), true);
    assert.equal(b.usedLarge, 2 * MiB);
  });

  test('release is idempotent and a released reservation cannot grow', () => {
    const b = createBodyBudget(4 * MiB);
    const r = b.reserve(MiB)!;
    r.release();
    r.release();
    assert.equal(b.used, 0);
    assert.equal(r.grow(2 * MiB), false);
    assert.equal(b.used, 0);
  });

  test('property: under any sequence of reserve, grow and release, used ≤ limit, usedLarge ≤ limit/2, and all comes back', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('reserve' as const), bytes: fc.integer({ min: 0, max: 4 * MiB }) }),
      fc.record({ op: fc.constant('grow' as const), at: fc.nat(), bytes: fc.integer({ min: 0, max: 4 * MiB }) }),
      fc.record({ op: fc.constant('release' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16 * MiB }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
        const b = createBodyBudget(limit);
        const held: BodyReservation[] = [];
        for (const o of ops) {
          if (o.op === 'reserve') {
            const r = b.reserve(o.bytes);
            if (r) held.push(r);
          } else if (held.length > 0) {
            const r = held[o.at % held.length]!;
            if (o.op === 'grow') r.grow(o.bytes);
            else r.release();
          }
          assert.ok(b.used <= limit, `used ${b.used} > ${limit}`);
          assert.ok(b.usedLarge <= Math.floor(limit / 2), `large ${b.usedLarge} > half of ${limit}`);
          assert.equal(b.used, held.reduce((s, r) => s + r.bytes, 0));
        }
        for (const r of held) r.release();
        assert.equal(b.used, 0);
        assert.equal(b.usedLarge, 0);
      }),
    );
  });
});
