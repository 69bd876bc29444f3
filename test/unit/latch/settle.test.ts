// The pure settle rule (src/latch/settle.ts): the peak window's deque against brute force, and the
// window's life cycle. The verdict table lives with the watcher's use of it (test/unit/watcher/settle.test.ts),
// and simulate's replay of it in simulate.test.ts and the golden files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clamp, latch, liveUntil, nearest, observe, policyFromFlags, record, type PeakWindow, type Policy, type SettleState } from '../../../src/latch/index.ts';

const LADDERS: Array<[string, string]> = [['1-2-5', '2'], ['sig1', '1.5'], ['decade', '3.2'], ['step:7', '1.5'], ['exact', '1']];

test('peak window (property): its max equals the brute-force max latch over the window, and it holds at most one entry per ladder point seen', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...LADDERS),
      fc.option(fc.integer({ min: 0, max: 30 }), { nil: undefined }),
      fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
      fc.integer({ min: 0, max: 500 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 1000 })), { minLength: 1, maxLength: 300 }),
      ([ladder, tolerance], min, max, settleDown, steps) => {
        const p = policyFromFlags({ ladder, tolerance, min, max: max === undefined || min === undefined || max >= min ? max : min });
        const seen: Array<{ t: number; v: number }> = [];
        const points = new Set<number>();
        let w: PeakWindow | undefined;
        let now = 0;
        for (const [gap, v] of steps) {
          now += gap;
          w = record(w, { now, v }, p, settleDown);
          seen.push({ t: now, v });
          points.add(nearest(p.ladder, v));
          const inWindow = seen.filter((s) => s.t >= now - settleDown);
          const brute = Math.max(...inWindow.map((s) => latch(p, s.v)));
          assert.equal(clamp(p, w.points[0]!.point), brute);
          assert.ok(w.points.length <= points.size, `${w.points.length} entries for ${points.size} ladder points`);
          for (let i = 1; i < w.points.length; i++) {
            assert.ok(w.points[i - 1]!.point > w.points[i]!.point && w.points[i - 1]!.t <= w.points[i]!.t);
          }
          assert.equal(w.points[w.points.length - 1]!.v, v, 'the current value is always the last entry');
        }
      },
    ),
    { numRuns: 300 },
  );
});

const p125: Policy = policyFromFlags({});
const cfg = { settleUp: 60, settleDown: 3600 };

function run(steps: ReadonlyArray<readonly [number, number, number]>, p = p125, start?: SettleState) {
  let state = start;
  let last;
  for (const [now, v, declared] of steps) {
    last = observe(state, { now, v, declared }, p, cfg);
    state = last.state;
  }
  return last!;
}

test('observe counts observations at t ≥ now - settle-down only (DESIGN §6 rows): a value seen just before the window is out', () => {
  // 30 seen at 0, 5 from 100 on. At 3700 the window is [100, 3700]: peak 5, though 30 was live until 100.
  assert.deepEqual(run([[0, 30, 20], [100, 5, 20], [3700, 5, 20]]).verdict, { kind: 'due', direction: 'down', since: 100, target: 5, from: 20, to: 5 });
  // 60 (above band for 10 s, t0 = 100) is in the window [100, 3700]: latch(60) = 50 ≥ 20, held until it
  // leaves, at the first whole second after 100 + 3600
  const steps: Array<[number, number, number]> = [[0, 20, 20], [100, 60, 20], [110, 5, 20], [3700, 5, 20]];
  assert.deepEqual(run(steps).verdict, { kind: 'held', direction: 'down', since: 100, target: 60, recheckAt: 3701 });
  assert.deepEqual(run([...steps, [3701, 5, 20]]).verdict, { kind: 'due', direction: 'down', since: 100, target: 5, from: 20, to: 5 });
});

test('observe: a ladder change restarts the window, and no downward latch is due before it has filled again', () => {
  const before = run([[0, 3, 20], [3000, 3, 20]]);
  const sig1 = policyFromFlags({ ladder: 'sig1', tolerance: '1.5' });
  // below band(20) = 14-30 under sig1 since 0, but the sig1 window only started at 3500
  assert.deepEqual(run([[3500, 3, 20], [3700, 3, 20]], sig1, before.state).verdict, { kind: 'settling', direction: 'down', since: 0, dueAt: 7100 });
  assert.deepEqual(run([[3500, 3, 20], [7100, 3, 20]], sig1, before.state).verdict, { kind: 'due', direction: 'down', since: 0, target: 3, from: 20, to: 3 });
});

test('observe: changed bounds keep the window (it holds ladder points before the bounds)', () => {
  const before = run([[0, 4, 100], [10, 45, 100], [20, 4, 100]]); // below band(100) = 50-200 since 0; 45 → ladder point 50
  const capped = policyFromFlags({ max: 30 });
  // at 3600 the window [0, 3600] holds 45: clamp(50) = 30 under the new max
  assert.deepEqual(run([[3600, 4, 100]], capped, before.state).verdict, { kind: 'due', direction: 'down', since: 0, target: 45, from: 100, to: 30 });
  // once 45 has left, latch(4) = 5
  assert.deepEqual(run([[3611, 4, 100]], capped, before.state).verdict, { kind: 'due', direction: 'down', since: 0, target: 4, from: 100, to: 5 });
});

test('liveUntil moves the latest observation forward, never back', () => {
  const s = run([[0, 30, 20], [100, 5, 20]]).state;
  assert.deepEqual(liveUntil(s, 150).window.points.map((x) => [x.point, x.t]), [[20, 0], [5, 150]]);
  assert.equal(liveUntil(s, 50), s);
});
