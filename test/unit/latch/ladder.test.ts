import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nearest, parseLadder, pointAbove, pointBelow, PolicyError } from '../../../src/latch/index.ts';

const cases: Array<[ladder: string, v: number, expected: number]> = [
  // 1-2-5: {0,1,2,5,10,20,50,...}; between a and b, b wins when v·v ≥ a·b
  ['1-2-5', 0, 0],
  ['1-2-5', 1, 1],
  ['1-2-5', 2, 2],
  ['1-2-5', 3, 2], // 9 < 10
  ['1-2-5', 4, 5], // 16 ≥ 10
  ['1-2-5', 7, 5], // 49 < 50
  ['1-2-5', 8, 10],
  ['1-2-5', 14, 10], // 196 < 200
  ['1-2-5', 15, 20],
  ['1-2-5', 17, 20],
  ['1-2-5', 31, 20], // 961 < 1000
  ['1-2-5', 32, 50],
  ['1-2-5', 70, 50], // 4900 < 5000
  ['1-2-5', 71, 100],
  ['1-2-5', 316, 200],
  ['1-2-5', 317, 500],
  ['1-2-5', 2_147_483_647, 2_000_000_000],
  // sig1: one significant digit
  ['sig1', 9, 9],
  ['sig1', 14, 10],
  ['sig1', 15, 20],
  ['sig1', 95, 100], // 9025 ≥ 9000
  ['sig1', 94, 90],
  ['sig1', 250, 300], // 62500 ≥ 60000
  ['sig1', 244, 200], // 59536 < 60000
  // decade: powers of ten
  ['decade', 3, 1], // 9 < 10
  ['decade', 4, 10],
  ['decade', 31, 10],
  ['decade', 32, 100],
  ['decade', 316, 100],
  ['decade', 317, 1000],
  // step:N: 1..N, then multiples of N
  ['step:10', 7, 7],
  ['step:10', 10, 10],
  ['step:10', 14, 10], // 196 < 200
  ['step:10', 15, 20],
  ['step:10', 24, 20], // 576 < 600
  ['step:10', 25, 30],
  ['step:10', 1004, 1000],
  ['step:1', 12345, 12345],
  ['step:3', 4, 3], // 16 < 18
  ['step:3', 5, 6],
  // exact: no rounding
  ['exact', 17, 17],
  ['exact', 0, 0],
];

for (const [ladder, v, expected] of cases) {
  test(`nearest ${ladder}(${v}) = ${expected}`, () => {
    assert.equal(nearest(parseLadder(ladder), v), expected);
  });
}

test('neighbouring points bracket v for every ladder', () => {
  for (const name of ['1-2-5', 'sig1', 'decade', 'step:7', 'exact']) {
    const l = parseLadder(name);
    for (let v = 1; v < 5000; v++) {
      const a = pointBelow(l, v);
      const b = pointAbove(l, v);
      assert.ok(a <= v && v <= b, `${name} ${a} ≤ ${v} ≤ ${b}`);
      assert.equal(pointBelow(l, a), a, `${name}: ${a} is a point`);
      assert.equal(pointAbove(l, b), b, `${name}: ${b} is a point`);
    }
  }
});

test('parseLadder accepts the five ladders and names what is wrong otherwise', () => {
  assert.equal(parseLadder('1-2-5').name, '1-2-5');
  assert.equal(parseLadder('step:25').step, 25);
  assert.equal(parseLadder(' decade ').kind, 'decade');
  for (const bad of ['', 'step:0', 'step:', 'step:-1', 'step:1.5', '1-2-4', 'SIG1', 'log']) {
    assert.throws(() => parseLadder(bad), PolicyError, bad);
  }
  assert.throws(() => parseLadder('step:0'), /N ≥ 1/);
  assert.throws(() => parseLadder('fibonacci'), /unknown ladder "fibonacci"/);
});
