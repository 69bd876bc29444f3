import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { latch, parseTrace, resolvePolicy, simulate, type Latch, type Policy, type SettleConfig, type SettleState, type TraceRow, type Verdict } from '../../../src/latch/index.ts';
import { observeLive as observe } from '../../../src/watcher/settle.ts';

const S = 1000;
const cfg: SettleConfig = { settleUp: 60 * S, settleDown: 3600 * S };

function policy(ann: Record<string, string> = {}): Policy {
  const r = resolvePolicy(ann);
  if (!r.ok) throw new Error(r.message);
  return r.policy;
}

/** Feeds (seconds, v, declared) steps through observe and returns the last verdict. */
function run(steps: ReadonlyArray<readonly [number, number, number]>, p = policy(), c = cfg): { state: SettleState; verdict: Verdict } {
  let state: SettleState | undefined;
  let verdict: Verdict = { kind: 'in-band' };
  for (const [t, v, d] of steps) ({ state, verdict } = observe(state, { now: t * S, v, declared: d }, p, c));
  return { state: state!, verdict };
}

const cases: Array<{ name: string; steps: Array<[number, number, number]>; want: Verdict; p?: Policy }> = [
  { name: 'in band: nothing', steps: [[0, 30, 20]], want: { kind: 'in-band' } },
  { name: 'band edges are in band (20 → 10..40)', steps: [[0, 10, 20], [100, 40, 20]], want: { kind: 'in-band' } },
  {
    name: 'above band, not yet settle-up',
    steps: [[0, 41, 20], [59, 41, 20]],
    want: { kind: 'settling', direction: 'up', since: 0, dueAt: 60 * S },
  },
  {
    name: 'above band for settle-up: latch(v) with v read now',
    steps: [[0, 41, 20], [30, 45, 20], [60, 47, 20]],
    want: { kind: 'due', direction: 'up', since: 0, target: 47, from: 20, to: 50 },
  },
  {
    name: 'a return into band clears t0',
    steps: [[0, 41, 20], [30, 40, 20], [40, 60, 20], [99, 60, 20]],
    want: { kind: 'settling', direction: 'up', since: 40 * S, dueAt: 100 * S },
  },
  {
    name: 'below band waits settle-down',
    steps: [[0, 9, 20], [3599, 9, 20]],
    want: { kind: 'settling', direction: 'down', since: 0, dueAt: 3600 * S },
  },
  {
    name: 'below band for settle-down: latch of the window peak',
    steps: [[0, 9, 20], [1800, 7, 20], [3600, 3, 20]],
    want: { kind: 'due', direction: 'down', since: 0, target: 9, from: 20, to: 10 },
  },
  {
    name: 'a peak that latches at declared holds, rechecked when it leaves the window',
    // 60 (above band, shorter than settle-up) then 5 (below): t0 stays 0. At 3600 the window
    // [0, 3600] still holds 60 → latch(60)=50 ≥ 20: held until 50 + 3600.
    steps: [[0, 60, 20], [50, 5, 20], [3600, 5, 20]],
    want: { kind: 'held', direction: 'down', since: 0, target: 60, recheckAt: 3650 * S },
  },
  {
    name: '...and once the peak has left, the latch is due',
    steps: [[0, 60, 20], [50, 5, 20], [3600, 5, 20], [3650, 5, 20]],
    want: { kind: 'due', direction: 'down', since: 0, target: 5, from: 20, to: 5 },
  },
  {
    name: 'a value in band just before the exit does not count once its hold ended at the window start',
    steps: [[0, 30, 20], [100, 5, 20], [3700, 5, 20]],
    want: { kind: 'due', direction: 'down', since: 100 * S, target: 5, from: 20, to: 5 },
  },
  {
    name: 'direction is judged at the check: below for 60 s then above → up is due at once',
    steps: [[0, 5, 20], [61, 45, 20]],
    want: { kind: 'due', direction: 'up', since: 0, target: 45, from: 20, to: 50 },
  },
  {
    name: 'a declared value changed in git restarts the settle time',
    steps: [[0, 100, 20], [50, 100, 30], [100, 100, 30]],
    want: { kind: 'settling', direction: 'up', since: 50 * S, dueAt: 110 * S },
  },
  {
    name: 'max bound clamps latch(v) to declared: held, no recheck timer',
    p: policy({ 'kube-latch.io/max-replicas': '20' }),
    steps: [[0, 41, 20], [60, 41, 20]],
    want: { kind: 'held', direction: 'up', since: 0, target: 41, recheckAt: undefined },
  },
  {
    name: 'declared 0: band is {0}, any live pod latches up',
    steps: [[0, 3, 0], [60, 3, 0]],
    want: { kind: 'due', direction: 'up', since: 0, target: 3, from: 0, to: 2 },
  },
  {
    name: 'scale to zero latches down to 0 after settle-down',
    steps: [[0, 0, 2], [3600, 0, 2]],
    want: { kind: 'due', direction: 'down', since: 0, target: 0, from: 2, to: 0 },
  },
  {
    name: 'first sight out of band starts t0 now (conservative restart)',
    steps: [[5000, 100, 20], [5059, 100, 20]],
    want: { kind: 'settling', direction: 'up', since: 5000 * S, dueAt: 5060 * S },
  },
  {
    name: 'a restart seeds the window with the current v only',
    steps: [[0, 3, 20], [3600, 3, 20]],
    want: { kind: 'due', direction: 'down', since: 0, target: 3, from: 20, to: 2 },
  },
];

for (const c of cases) {
  test(`settle: ${c.name}`, () => {
    assert.deepEqual(run(c.steps, c.p).verdict, c.want);
  });
}

test('settle: settle 0 latches on the same check', () => {
  const zero = { settleUp: 0, settleDown: 0 };
  assert.deepEqual(run([[0, 100, 20]], policy(), zero).verdict, { kind: 'due', direction: 'up', since: 0, target: 100, from: 20, to: 100 });
  assert.deepEqual(run([[0, 1, 20]], policy(), zero).verdict, { kind: 'due', direction: 'down', since: 0, target: 1, from: 20, to: 1 });
});

test('settle: after a due latch the state is against the new value and t0 is clear', () => {
  const { state } = run([[0, 41, 20], [60, 47, 20]]);
  assert.equal(state.declared, 50);
  assert.equal(state.t0, undefined);
  assert.deepEqual(run([[0, 41, 20], [60, 47, 20], [61, 47, 50]]).verdict, { kind: 'in-band' });
});

test('settle: the window holds one entry per ladder point, never the raw series', () => {
  const steps: Array<[number, number, number]> = [];
  for (let i = 0; i < 10_000; i++) steps.push([i * 10, 5 + (i % 7), 20]);
  const { state } = run(steps);
  // v in 5..11 lands on the ladder points 5 and 10 only
  assert.ok(state.window.points.length <= 2, `points ${state.window.points.length}`);
});

test('settle: a value live since before the window and changed inside it still counts as the peak', () => {
  // 60 (above band, seen once at t=0) is live until 3000, then 5. At 6000 the window [2400, 6000]
  // still holds 60: latch(60) = 50 ≥ 20, held until 60 leaves the window at 3000 + 3600.
  assert.deepEqual(run([[0, 60, 20], [3000, 5, 20], [6000, 5, 20]]).verdict, { kind: 'held', direction: 'down', since: 0, target: 60, recheckAt: 6600 * S });
  assert.deepEqual(run([[0, 60, 20], [3000, 5, 20], [6000, 5, 20], [6600, 5, 20]]).verdict, { kind: 'due', direction: 'down', since: 0, target: 5, from: 20, to: 5 });
});

test('settle: a restart (no state) sees no downward latch before the window has filled', () => {
  // the workload was below band long before the restart; the new process knows nothing of it
  assert.deepEqual(run([[100_000, 3, 20], [103_599, 3, 20]]).verdict, { kind: 'settling', direction: 'down', since: 100_000 * S, dueAt: 103_600 * S });
});

// ---- agreement with simulate(): same rules, same latch points ----

/** Replays trace rows through observe() the way simulate() walks them: one check per row. */
function replay(rows: readonly TraceRow[], p: Policy, settleUp: number, settleDown: number): Latch[] {
  let d = rows.length ? latch(p, rows[0]!.v) : 0;
  let state: SettleState | undefined;
  const out: Latch[] = [];
  for (const r of rows) {
    const res = observe(state, { now: r.t * S, v: r.v, declared: d }, p, { settleUp: settleUp * S, settleDown: settleDown * S });
    state = res.state;
    if (res.verdict.kind === 'due') {
      out.push({ t: r.t, from: d, to: res.verdict.to });
      d = res.verdict.to;
    }
  }
  return out;
}

test('settle agrees with simulate() on the ClarkNet replica trace (default policy)', () => {
  const rows = parseTrace(readFileSync(new URL('./fixtures/clarknet-1995-replicas.csv', import.meta.url), 'utf8'));
  const p = policy();
  const want = simulate(rows, { policy: p, settleUp: 60, settleDown: 3600 }).latches;
  const got = replay(rows, p, 60, 3600);
  assert.ok(want.length >= 5, `the trace should latch several times, got ${want.length}`);
  assert.deepEqual(got, want);
});

test('settle agrees with simulate() on the ClarkNet trace under other policies and settle times', () => {
  const rows = parseTrace(readFileSync(new URL('./fixtures/clarknet-1995-replicas.csv', import.meta.url), 'utf8'));
  const variants: Array<[Record<string, string>, number, number]> = [
    [{ 'kube-latch.io/ladder': 'sig1', 'kube-latch.io/tolerance': '1.5' }, 120, 1800],
    [{ 'kube-latch.io/ladder': 'step:10', 'kube-latch.io/tolerance': '1.4', 'kube-latch.io/min-replicas': '5', 'kube-latch.io/max-replicas': '60' }, 0, 600],
    [{ 'kube-latch.io/ladder': 'exact', 'kube-latch.io/tolerance': '1' }, 60, 3600],
  ];
  for (const [ann, up, down] of variants) {
    const p = policy(ann);
    assert.deepEqual(replay(rows, p, up, down), simulate(rows, { policy: p, settleUp: up, settleDown: down }).latches, JSON.stringify(ann));
  }
});

test('settle agrees with simulate() on random traces sampled on a regular grid (property)', () => {
  const ladders = ['1-2-5', 'sig1', 'decade', 'step:4', 'exact'];
  const tolerances: Record<string, string> = { '1-2-5': '2', sig1: '1.5', decade: '3.2', 'step:4': '1.6', exact: '1' };
  fc.assert(
    fc.property(
      fc.constantFrom(...ladders),
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 400 }),
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 0, max: 40 }),
      fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
      (ladder, values, upSteps, downSteps, min) => {
        const ann: Record<string, string> = { 'kube-latch.io/ladder': ladder, 'kube-latch.io/tolerance': tolerances[ladder]! };
        if (min !== undefined) ann['kube-latch.io/min-replicas'] = String(min);
        const p = policy(ann);
        const rows = values.map((v, i) => ({ t: i * 10, v }));
        const want = simulate(rows, { policy: p, settleUp: upSteps * 10, settleDown: downSteps * 10 }).latches;
        assert.deepEqual(replay(rows, p, upSteps * 10, downSteps * 10), want);
      },
    ),
    { numRuns: 400 },
  );
});
