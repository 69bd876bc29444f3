import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { band, parseTrace, policyFromFlags, simulate, type TraceRow } from '../../../src/latch/index.ts';
import { bucket, declaredSeries, liveSeries, stepPath, type Frame, type StepSeries } from '../../../src/report/index.ts';

/** Random traces: non-decreasing integer times, replica counts 0..300 with occasional runs. */
const traceArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 600 })
  .map((steps) => {
    let t = 0;
    return steps.map(([dt, v]): TraceRow => ({ t: (t += dt), v }));
  });

const frame = (s: StepSeries, width: number): Frame => ({ t0: s.t[0]!, t1: s.t[s.t.length - 1]!, left: 10, width, y: (v) => 1000 - v });

/** The y of every vertex of a path made of M x y, H x and V y commands. */
function pathYs(d: string): number[] {
  const ys: number[] = [];
  for (const m of d.matchAll(/([MHV])(-?[\d.]+)(?: (-?[\d.]+))?/g)) {
    if (m[1] === 'M') ys.push(Number(m[3]));
    if (m[1] === 'V') ys.push(Number(m[2]));
  }
  return ys;
}

test('bucket: per pixel column, min/max/last equal a brute-force scan', () => {
  fc.assert(
    fc.property(traceArb, fc.integer({ min: 1, max: 50 }), (rows, cols) => {
      const s = liveSeries(rows);
      const t0 = s.t[0]!;
      const t1 = s.t[s.t.length - 1]!;
      const b = bucket(s, t0, t1, cols);
      const expect = new Map<number, number[]>();
      rows.forEach((r) => {
        const c = t1 > t0 ? Math.min(cols - 1, Math.floor(((r.t - t0) / (t1 - t0)) * cols)) : 0;
        expect.set(c, [...(expect.get(c) ?? []), r.v]);
      });
      assert.deepEqual(b.col, [...expect.keys()]);
      b.col.forEach((c, k) => {
        const vs = expect.get(c)!;
        assert.equal(b.min[k], Math.min(...vs));
        assert.equal(b.max[k], Math.max(...vs));
        assert.equal(b.last[k], vs[vs.length - 1]);
      });
    }),
  );
});

test('stepPath keeps every peak and dip: the path reaches exactly the series max and min, at any width', () => {
  fc.assert(
    fc.property(traceArb, fc.integer({ min: 1, max: 400 }), (rows, width) => {
      const s = liveSeries(rows);
      const ys = pathYs(stepPath(s, frame(s, width)));
      assert.equal(Math.min(...ys), 1000 - Math.max(...s.y));
      assert.equal(Math.max(...ys), 1000 - Math.min(...s.y));
    }),
  );
});

test('stepPath is exact (one step per change) when the series fits, and ends at the right edge', () => {
  const s: StepSeries = { t: [0, 10, 20, 30, 40], y: [5, 5, 8, 3, 3] };
  assert.equal(stepPath(s, { t0: 0, t1: 40, left: 0, width: 400, y: (v) => v }), 'M0 5H200V8H300V3H400');
});

test('stepPath size is bounded by the pixel columns, not by the rows', () => {
  const rows: TraceRow[] = Array.from({ length: 200_000 }, (_, i) => ({ t: i * 30, v: 1 + ((i * 7919) % 997) }));
  const d = stepPath(liveSeries(rows), { t0: 0, t1: rows[rows.length - 1]!.t, left: 0, width: 1000, y: (v) => 1000 - v });
  assert.ok(d.length < 1000 * 32, `${d.length} bytes for 1000 columns`);
});

test('declaredSeries: the latch list is the whole history of git — recomputing underSeconds from it matches the replay', () => {
  const policies = ['1-2-5:2', 'sig1:1.5', 'decade:3.2', 'exact:1', 'step:10:1.4'].map((x) => {
    const at = x.lastIndexOf(':');
    return policyFromFlags({ ladder: x.slice(0, at), tolerance: x.slice(at + 1) });
  });
  fc.assert(
    fc.property(traceArb, fc.constantFrom(...policies), fc.constantFrom(0, 60, 600), fc.constantFrom(0, 600, 3600), (rows, policy, settleUp, settleDown) => {
      const r = simulate(rows, { policy, settleUp, settleDown });
      const d = declaredSeries(rows, r);
      assert.equal(d.t.length, r.commits + 1);
      assert.equal(d.y[d.y.length - 1], r.final);
      // d in force over [rows[i].t, rows[i+1].t): the last step at or before rows[i].t, latches at the
      // same time included (they are on that row or an earlier zero-length one).
      let under = 0;
      let k = 0;
      for (let i = 0; i + 1 < rows.length; i++) {
        while (k + 1 < d.t.length && d.t[k + 1]! <= rows[i]!.t) k++;
        if (rows[i + 1]!.t > rows[i]!.t && rows[i]!.v > band(d.y[k]!, policy.tolerance).hi) under += rows[i + 1]!.t - rows[i]!.t;
      }
      assert.equal(under, r.underSeconds);
    }),
    { numRuns: 300 },
  );
});

test('declaredSeries without latches is one flat step at the initial value', () => {
  const rows = parseTrace('t,replicas\n0,17\n60,18\n');
  const r = simulate(rows, { policy: policyFromFlags({}), settleUp: 60, settleDown: 3600 });
  assert.deepEqual(declaredSeries(rows, r), { t: [0], y: [20] });
});
