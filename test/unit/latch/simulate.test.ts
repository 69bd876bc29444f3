import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_SETTLE_DOWN, DEFAULT_SETTLE_UP, parseTrace, policyFromFlags, simulate, TraceError, type SimulateResult } from '../../../src/latch/index.ts';

const defaults = { settleUp: 60, settleDown: 3600 };
const policy = policyFromFlags({});
const csv = (rows: Array<[number, number]>) => 't,replicas\n' + rows.map(([t, v]) => `${t},${v}`).join('\n') + '\n';
const run = (rows: Array<[number, number]>, o: Partial<Parameters<typeof simulate>[1]> = {}): SimulateResult =>
  simulate(parseTrace(csv(rows)), { policy, ...defaults, ...o });

test('starts at latch(v of the first row), or --initial', () => {
  assert.equal(run([[0, 17]]).final, 20);
  assert.equal(run([[0, 17]], { initial: 30 }).final, 30);
});

test('an upward exit latches once settle-up has passed, to latch(v) at that row', () => {
  const r = run([
    [0, 20],
    [10, 45], // out of band 10-40: t0 = 10
    [60, 47], // 50 s: not yet
    [70, 48], // 60 s: latch(48) = 50
    [80, 49],
  ]);
  assert.equal(r.commits, 1);
  assert.deepEqual(r.latches, [{ t: 70, from: 20, to: 50 }]);
  assert.equal(r.final, 50);
});

test('returning to the band before settle clears the timer', () => {
  const r = run([
    [0, 20],
    [10, 45],
    [50, 30], // back in band
    [60, 45], // t0 = 60
    [110, 45], // only 50 s
  ]);
  assert.equal(r.commits, 0);
});

test('a downward exit waits settle-down and latches to the recent peak', () => {
  const r = run([
    [0, 100],
    [100, 30], // below band 50-200: t0 = 100
    [1000, 20],
    [3700, 20], // 3600 s after t0; peak over [100, 3700] = 30 → latch 20 < 100
  ]);
  assert.deepEqual(r.latches, [{ t: 3700, from: 100, to: 20 }]);
});

test('a downward latch whose peak still latches at or above declared waits for the peak to leave the window', () => {
  const r = run([
    [0, 100],
    [10, 90],
    [20, 40], // out of band: t0 = 20; 90 at t=10 is the peak while it lies in the window
    [3615, 40], // 3595 s: not settled
    [3620, 40], // settled; window [20, 3620] peak 40 → 50 < 100 → latch
  ]);
  assert.deepEqual(r.latches, [{ t: 3620, from: 100, to: 50 }]);

  const held = run([
    [0, 100],
    [1, 45], // t0 = 1
    [2, 80], // in band: clears
    [3, 45], // t0 = 3
    [3603, 45], // peak over [3, 3603] is 45 → latch 50 < 100 → latch
  ]);
  assert.equal(held.commits, 1);
});

test('a peak that still latches at or above declared holds the latch, and t0 stays set', () => {
  // declared 10 (band 5-20); a brief spike to 25 keeps the window peak high; settle-up is long so it does not latch up.
  const r = run(
    [
      [0, 4], // t0 = 0
      [10, 25], // still out of band (above); t0 stays
      [20, 4],
      [3600, 4], // settled, but peak 25 → latch 20 ≥ 10: nothing yet
      [3615, 4], // window [15, 3615]: peak 4 → 5: latch, timed from the original t0
    ],
    { initial: 10, settleUp: 1_000_000 },
  );
  assert.deepEqual(r.latches, [{ t: 3615, from: 10, to: 5 }]);
});

test('settle 0 latches on the same row', () => {
  const r = run(
    [
      [0, 20],
      [5, 100],
    ],
    { settleUp: 0, settleDown: 0 },
  );
  assert.deepEqual(r.latches, [{ t: 5, from: 20, to: 100 }]);
});

test('bounds: a latch that would write the value already in git is no commit', () => {
  const bounded = policyFromFlags({ max: 20 });
  const r = simulate(parseTrace(csv([[0, 20], [10, 100], [200, 100], [400, 100]])), { policy: bounded, ...defaults });
  assert.equal(r.commits, 0);
  assert.equal(r.final, 20);
});

test('metrics: changes, maxUnder, maxOver, underSeconds, overProvision', () => {
  const r = run([
    [0, 20],
    [10, 45], // above band 10-40 → under-provisioned rebuild from t=10 to t=70
    [70, 45], // latch to 50
    [100, 45],
    [160, 5], // band(50) = 25-100: over-provisioned
  ]);
  assert.equal(r.changes, 2);
  assert.equal(r.underSeconds, 60); // rows t=10 (next t=70): v 45 > 40
  assert.equal(r.maxUnder, 2.25); // 45/20
  assert.equal(r.maxOver, 10); // 50/5
  assert.equal(r.rows, 5);
  // Σ held·d / Σ held·v over the rows with a next row, d after the row (50 from the latch at t=70 on):
  // (10·20 + 60·20 + 30·50 + 60·50) / (10·20 + 60·45 + 30·45 + 60·45) = 5900 / 6950
  assert.equal(r.overProvision, 0.849);
});

test('overProvision is absent when live holds no capacity over time, and ignores the last row', () => {
  assert.equal('overProvision' in run([[0, 0], [60, 0], [120, 7]]), false); // the 7 holds for no time
  assert.equal(JSON.stringify(run([[0, 0], [60, 0]])).includes('overProvision'), false);
  assert.equal(run([[0, 0], [60, 3], [120, 0]], { initial: 2, settleUp: 1000, settleDown: 1000 }).overProvision, 1.333); // 2·120 / (0·60 + 3·60)
});

const traceRows = (name: string) => parseTrace(readFileSync(new URL(`../../fixtures/traces/${name}`, import.meta.url), 'utf8'));

test('public traces with the watcher defaults (60 s / 86400 s) give the reference figures (DESIGN §4, issue 17)', () => {
  const d = { settleUp: DEFAULT_SETTLE_UP, settleDown: DEFAULT_SETTLE_DOWN };
  assert.deepEqual(d, { settleUp: 60, settleDown: 86400 });
  const nasa = simulate(traceRows('nasa-http-1995-replicas.csv'), { policy, ...d });
  // 420 s of 62 days below band = 0.008 %; git declares 1.84× live on average
  assert.deepEqual([nasa.changes, nasa.commits, nasa.underSeconds, nasa.overProvision], [22793, 11, 420, 1.841]);
  const clark = simulate(traceRows('clarknet-1995-replicas.csv'), { policy, ...d });
  assert.deepEqual([clark.changes, clark.commits, clark.underSeconds, clark.overProvision], [5914, 1, 60, 1.095]);
});

test('public traces with the former settle-down of one hour give the independent model\'s figures', () => {
  const nasa = simulate(traceRows('nasa-http-1995-replicas.csv'), { policy, ...defaults });
  assert.deepEqual([nasa.changes, nasa.commits, nasa.underSeconds, nasa.overProvision], [22793, 114, 3480, 1.343]);
  const clark = simulate(traceRows('clarknet-1995-replicas.csv'), { policy, ...defaults });
  assert.deepEqual([clark.changes, clark.commits, clark.underSeconds, clark.overProvision], [5914, 9, 300, 1.061]);
});

const badTraces: Array<[string, RegExp]> = [
  ['time,replicas\n0,1\n', /line 1: expected the header/],
  ['t,replicas\n0,1\n5,x\n', /line 3: replicas "x"/],
  ['t,replicas\n0,1\n5\n', /line 3: expected 2 columns/],
  ['t,replicas\n10,1\n5,2\n', /line 3: t 5 goes back in time/],
  ['t,replicas\n-1,1\n', /line 2: t "-1"/],
  ['t,replicas\n0,1.5\n', /line 2: replicas "1.5"/],
  ['t,replicas\n', /no rows/],
];
for (const [text, re] of badTraces) {
  test(`a bad trace names its line: ${re}`, () => {
    assert.throws(() => parseTrace(text), (e: unknown) => e instanceof TraceError && re.test(e.message));
  });
}
