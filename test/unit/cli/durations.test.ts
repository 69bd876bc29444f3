// Issue 12 §4 / DESIGN §4: every duration flag is bounded at 30 days; a larger or malformed value is a
// usage error (the CLI exits 2 with this one line), never a timer that overflows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seconds, UsageError } from '../../../src/cli/flags.ts';
import { MAX_DURATION_SECONDS, parseDuration } from '../../../src/latch/duration.ts';

const DAY = 86_400;
const rows: Array<[value: string, want: number | RegExp]> = [
  ['0', 0],
  ['60', 60],
  ['0.5', 0.5],
  ['500ms', 0.5],
  ['90s', 90],
  ['5m', 300],
  ['1h', 3600],
  ['1d', DAY],
  ['30d', 30 * DAY],
  ['720h', 30 * DAY],
  ['43200m', 30 * DAY],
  ['2592000', 30 * DAY],
  ['2592000s', 30 * DAY],
  ['2592000000ms', 30 * DAY],
  ['2592001', /must be at most 30 days \(2592000 s\), got "2592001"/], // 30 d + 1 s
  ['2592000.001', /must be at most 30 days/],
  ['2592000001ms', /must be at most 30 days/],
  ['31d', /must be at most 30 days/],
  ['721h', /must be at most 30 days/],
  ['1000000000000', /must be at most 30 days/], // 10^12 s: a timer of 10^15 ms
  ['99999999999999999999999999999999', /must be at most 30 days/],
  ['1e12', /must be seconds or a duration/],
  ['Infinity', /must be seconds or a duration/],
  ['NaN', /must be seconds or a duration/],
  ['-1', /must be seconds or a duration/],
  ['', /must be seconds or a duration/],
  ['1.', /must be seconds or a duration/],
  ['.5', /must be seconds or a duration/],
  ['1.2.3', /must be seconds or a duration/],
  ['1w', /must be seconds or a duration/],
  ['5 m', /must be seconds or a duration/],
  ['0x10', /must be seconds or a duration/],
  ['1h30m', /must be seconds or a duration/],
  ['9'.repeat(33), /must be seconds or a duration/], // over the 32-character cap, refused before the scan
];

for (const [value, want] of rows) {
  test(`--settle-down ${JSON.stringify(value)} → ${typeof want === 'number' ? `${want} s` : 'usage error'}`, () => {
    if (typeof want === 'number') {
      assert.equal(seconds({ 'settle-down': value }, 'settle-down'), want);
      assert.deepEqual(parseDuration(value), { ok: true, seconds: want });
      return;
    }
    assert.throws(
      () => seconds({ 'settle-down': value }, 'settle-down'),
      (e: unknown) => e instanceof UsageError && !e.message.includes('\n') && e.message.startsWith('--settle-down ') && want.test(e.message),
    );
  });
}

test('the bound is 30 days, and every accepted duration is a finite number of seconds within it', () => {
  assert.equal(MAX_DURATION_SECONDS, 2_592_000);
  for (const [value, want] of rows) if (typeof want === 'number') assert.ok(Number.isFinite(want) && want <= MAX_DURATION_SECONDS, value);
});

test('a caller may allow more (certificate lifetimes, which are no timer)', () => {
  assert.equal(seconds({ 'ca-lifetime': '8760h' }, 'ca-lifetime', { max: 100 * 365 * DAY }), 365 * DAY);
  assert.throws(() => seconds({ 'ca-lifetime': '8760h' }, 'ca-lifetime'), /--ca-lifetime must be at most 30 days/);
});
