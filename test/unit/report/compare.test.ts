// --compare: the policy list (split at the last colon, bad items named) and the side-by-side table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRatio, parseTrace, policyFromFlags, simulate } from '../../../src/latch/index.ts';
import { parsePolicyList } from '../../../src/cli/simulate.ts';
import { UsageError } from '../../../src/cli/flags.ts';
import { renderCompareTable } from '../../../src/report/index.ts';

const good: Array<[string, Array<[string, string, string]>]> = [
  ['1-2-5:2,sig1:1.5,decade:3.2', [['1-2-5:2', '1-2-5', '2'], ['sig1:1.5', 'sig1', '1.5'], ['decade:3.2', 'decade', '3.2']]],
  ['step:10:1.4', [['step:10:1.4', 'step:10', '1.4']]],
  [' exact:1 , 1-2-5:2.50 ', [['exact:1', 'exact', '1'], ['1-2-5:2.50', '1-2-5', '2.5']]],
];
for (const [text, want] of good) {
  test(`--compare "${text}" parses`, () => {
    const got = parsePolicyList(text, {});
    assert.deepEqual(got.map((p) => [p.label, p.policy.ladder.name, formatRatio(p.policy.tolerance)]), want);
  });
}

test('--compare passes bounds to every policy', () => {
  const got = parsePolicyList('1-2-5:2,sig1:1.5', { min: 3, max: 40 });
  assert.deepEqual(got.map((p) => [p.policy.min, p.policy.max]), [[3, 40], [3, 40]]);
});

const bad: Array<[string, RegExp]> = [
  ['', /at least one/],
  [' , ', /at least one/],
  ['1-2-5', /policy "1-2-5" is not LADDER:TOLERANCE/],
  ['1-2-5:2,sig1:1.2', /policy "sig1:1\.2": tolerance 1\.2 is below 1\.415/],
  ['fib:2', /policy "fib:2": .*unknown ladder/],
  ['step:10', /policy "step:10": .*unknown ladder/],
  ['step:0:2', /policy "step:0:2"/],
  [':2', /policy ":2" is not LADDER:TOLERANCE/],
  ['1-2-5:', /policy "1-2-5:" is not LADDER:TOLERANCE/],
  ['1-2-5:2,,sig1:1.5', /policy "" is not LADDER:TOLERANCE/],
  ['1-2-5:x', /policy "1-2-5:x": tolerance "x"/],
];
for (const [text, re] of bad) {
  test(`--compare "${text}" is a usage error naming the policy`, () => {
    assert.throws(() => parsePolicyList(text, {}), (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'));
  });
}

test('the table lines up one row per policy, with commits, per day, fewer ×, time below band, maxUnder, maxOver, overProvision, final', () => {
  const rows = parseTrace('t,replicas\n0,20\n100,45\n200,45\n86400,45\n');
  const policy = policyFromFlags({});
  const r = simulate(rows, { policy, settleUp: 60, settleDown: 3600 });
  const table = renderCompareTable([{ policy: '1-2-5:2', result: r }, { policy: 'exact:1', result: { ...r, commits: 0 } }], 86400);
  const lines = table.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^policy\s+commits\s+commits\/day\s+fewer\s+under band\s+maxUnder\s+maxOver\s+overProvision\s+final$/);
  assert.match(lines[1]!, /^1-2-5:2\s+1\s+1\.00\s+1×\s+0\.116%\s+2\.25\s+1\.111\s+1\.11\s+50$/);
  assert.match(lines[2]!, /^exact:1\s+0\s+0\.00\s+n\/a\s+/);
  // right-aligned numbers: every column ends where its header ends
  const ends = (l: string) => [...l.matchAll(/\S+(?=\s{2,}|$)/g)].map((m) => m.index + m[0].length).slice(1);
  assert.deepEqual(ends(lines[1]!), ends(lines[0]!.replace('under band', 'under_band')));
});
