// Issue 12 §2: no parser of request, annotation, flag or git data may be worse than linear. Shown by
// construction, never by a clock: each parser refuses over-long input before any regex, so the table
// below feeds it 200,000-character adversarial families (long zeros, long digits, nested repetitions,
// whitespace runs, URL-shaped floods) and asserts (1) the result is the length error (or the linear
// answer), and (2) no regular expression ever ran on more than the parser's cap (test/helpers/regex-spy.ts
// sees every regex operation). A scanner without regexes shows zero calls. The time each takes is in
// bench/parsers.ts and docs/benchmarks.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decide } from '../../../src/admission/decide.ts';
import { parseFlags, seconds, MAX_FLAG_VALUE, UsageError, type FlagSpec } from '../../../src/cli/flags.ts';
import { makeScrubber, parseRemote, MAX_URL_LENGTH } from '../../../src/git/auth.ts';
import { classify, summary, STDERR_TAIL } from '../../../src/git/exec.ts';
import { parseKindSpec } from '../../../src/kube/client.ts';
import { parseDuration } from '../../../src/latch/duration.ts';
import { ANNOTATIONS, formatRatio, parseDecimal, parseTolerance, resolvePolicy } from '../../../src/latch/index.ts';
import { POLICY_VALUE_MAX_LENGTH } from '../../../src/latch/policy.ts';
import { redactUrl } from '../../../src/redact.ts';
import { parseRollout, ROLLOUT_MAX_LENGTH } from '../../../src/rollout/format.ts';
import { adversarialFamilies } from '../../helpers/adversarial.ts';
import { regexInputs } from '../../helpers/regex-spy.ts';
import { review, workload } from '../../helpers/reviews.ts';

const N = 200_000;
const FAMILIES = adversarialFamilies(N);

test('every family is 200,000 characters', () => {
  for (const [name, s] of Object.entries(FAMILIES)) assert.equal(s.length, N, name);
});

interface Row {
  parser: string;
  /** the longest input any regex may see */
  cap: number;
  run(input: string): unknown;
  expect(result: unknown, input: string): void;
}

const lengthError = (what: string) => `${what} is ${N} characters long; expected at most ${POLICY_VALUE_MAX_LENGTH}`;
const thrown = (fn: () => unknown): unknown => {
  try {
    return fn();
  } catch (e) {
    return e;
  }
};

const policyRows: Row[] = (
  [
    [ANNOTATIONS.ladder, 'ladder'],
    [ANNOTATIONS.tolerance, 'tolerance'],
    [ANNOTATIONS.min, 'min-replicas'],
    [ANNOTATIONS.max, 'max-replicas'],
  ] as const
).map(([annotation, what]) => ({
  parser: `resolvePolicy (${annotation})`,
  cap: POLICY_VALUE_MAX_LENGTH,
  run: (s) => resolvePolicy({ [annotation]: s, [ANNOTATIONS.ladder === annotation ? ANNOTATIONS.tolerance : ANNOTATIONS.ladder]: '2' }),
  expect: (r) => assert.deepEqual(r, { ok: false, annotation, message: lengthError(what) }),
}));

const flagSpecs: FlagSpec[] = [{ name: 'settle-up', type: 'string', help: '' }];

const ROWS: Row[] = [
  ...policyRows,
  {
    parser: 'parseTolerance',
    cap: POLICY_VALUE_MAX_LENGTH,
    run: (s) => thrown(() => parseTolerance(s)),
    expect: (e) => assert.equal((e as Error).message, lengthError('tolerance')),
  },
  { parser: 'parseDecimal', cap: 0, run: (s) => parseDecimal(s), expect: (r) => assert.equal(r, undefined) },
  { parser: 'parseDuration', cap: 0, run: (s) => parseDuration(s), expect: (r) => assert.equal((r as { ok: boolean }).ok, false) },
  {
    parser: 'seconds (a duration flag)',
    cap: 0,
    run: (s) => thrown(() => seconds({ 'settle-up': s }, 'settle-up')),
    expect: (e) => assert.ok(e instanceof UsageError && e.message.startsWith('--settle-up must be seconds')),
  },
  {
    parser: 'parseFlags (argv)',
    cap: 64, // flag names only (envName)
    run: (s) => thrown(() => parseFlags(flagSpecs, ['--settle-up', s], {})),
    expect: (e) => assert.equal((e as Error).message, `--settle-up is ${N} characters long; expected at most ${MAX_FLAG_VALUE}`),
  },
  {
    parser: 'parseFlags (environment)',
    cap: 64, // flag names only (envName)
    run: (s) => thrown(() => parseFlags(flagSpecs, [], { KUBE_LATCH_SETTLE_UP: s })),
    expect: (e) => assert.equal((e as Error).message, `--settle-up is ${N} characters long; expected at most ${MAX_FLAG_VALUE}`),
  },
  { parser: 'parseRollout', cap: ROLLOUT_MAX_LENGTH, run: (s) => parseRollout(s), expect: (r) => assert.equal(r, undefined) },
  {
    parser: 'parseRemote (--repo)',
    cap: MAX_URL_LENGTH,
    run: (s) => thrown(() => parseRemote(s)),
    expect: (e) => assert.equal((e as Error).message, `--repo is ${N} characters long; expected at most ${MAX_URL_LENGTH}`),
  },
  {
    parser: 'parseKindSpec (--workload-kind)',
    cap: 400,
    run: (s) => thrown(() => parseKindSpec(s)),
    expect: (e) => assert.match((e as Error).message, /^workload kind is 200000 characters long/),
  },
  {
    parser: 'redactUrl (logs, Events, git output)',
    cap: 0,
    run: (s) => redactUrl(s),
    expect: (r, s) => assert.equal(r, s.startsWith('https://') ? 'https://[redacted]@' : s),
  },
  {
    parser: 'makeScrubber (git output)',
    cap: 0,
    run: (s) => makeScrubber(['tok-123456'])(s),
    expect: (r, s) => assert.equal(r, s.startsWith('https://') ? 'https://[redacted]@' : s),
  },
  {
    parser: 'classify (git stderr)',
    cap: STDERR_TAIL,
    run: (s) => classify('push', { code: 1, stdout: '', stderr: s, timedOut: false }),
    expect: (e) => assert.ok(e instanceof Error && e.message.length < 400),
  },
  { parser: 'summary (git stderr)', cap: STDERR_TAIL, run: (s) => summary(s), expect: (r) => assert.ok((r as string).length <= 300) },
  {
    parser: 'decide (tolerance annotation on a CREATE)',
    cap: ROLLOUT_MAX_LENGTH,
    run: (s) => decide(review({ operation: 'CREATE', object: workload({ replicas: 3, annotations: { [ANNOTATIONS.tolerance]: s } }) })).review.response,
    expect: (r) => {
      const res = r as { allowed: boolean; patch?: string; warnings?: string[] };
      assert.equal(res.allowed, true);
      assert.equal(res.patch, undefined);
      assert.deepEqual(res.warnings, [`kube-latch: ignored ${ANNOTATIONS.tolerance}: ${lengthError('tolerance')}`]);
      assert.ok(res.warnings![0]!.length < 120);
    },
  },
];

for (const row of ROWS) {
  for (const [family, input] of Object.entries(FAMILIES)) {
    test(`${row.parser}: ${family} → bounded (no regex on more than ${row.cap} characters)`, () => {
      const seen = regexInputs(() => row.run(input));
      assert.ok(seen.longest <= row.cap, `a regex ran on ${seen.longest} characters`);
      if (row.cap === 0) assert.equal(seen.calls, 0);
      // redactUrl's answer is only known for the https family; the others are left as they are.
      if (!row.parser.startsWith('redactUrl') && !row.parser.startsWith('makeScrubber')) row.expect(seen.result, input);
      else if (family.startsWith('userinfo') || !input.includes('@')) row.expect(seen.result, input);
    });
  }
}

test('property: any family with any prefix and suffix, at any length up to 200,000, keeps every parser within its cap', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...Object.values(FAMILIES)),
      fc.string({ maxLength: 8 }),
      fc.string({ maxLength: 8 }),
      fc.integer({ min: 33, max: N }),
      fc.constantFrom(...ROWS),
      (family, prefix, suffix, len, row) => {
        const input = (prefix + family + suffix).slice(0, len);
        const seen = regexInputs(() => row.run(input));
        assert.ok(seen.longest <= row.cap, `${row.parser}: a regex ran on ${seen.longest} characters`);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: formatRatio and parseDecimal never use a regex, and round-trip every decimal of up to 32 characters', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[0-9]{1,15}$/), fc.stringMatching(/^[0-9]{0,16}$/), (whole, frac) => {
      const text = frac === '' ? whole : `${whole}.${frac}`;
      const seen = regexInputs(() => {
        const r = parseDecimal(text)!;
        return formatRatio(r);
      });
      assert.equal(seen.calls, 0);
      const want = frac.replace(/0+$/, '') === '' ? String(BigInt(whole)) : `${BigInt(whole)}.${frac.replace(/0+$/, '')}`;
      assert.equal(seen.result, want);
    }),
    { numRuns: 2000 },
  );
});

test('every invalid-policy warning stays under 120 characters, whatever the annotation holds', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(ANNOTATIONS.ladder, ANNOTATIONS.tolerance, ANNOTATIONS.min, ANNOTATIONS.max),
      fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...Object.values(FAMILIES)), fc.stringMatching(/^[0-9]{11,32}$/)),
      (annotation, value) => {
        const r = resolvePolicy({ [annotation]: value });
        if (r.ok) return;
        assert.ok(`kube-latch: ignored ${r.annotation}: ${r.message}`.length < 120, r.message);
      },
    ),
    { numRuns: 1000 },
  );
});

const bounds: Array<[value: string, ok: boolean]> = [
  ['0', true],
  ['9999999999', true], // 10 digits
  [' 42 ', true],
  ['10000000000', false], // 11 digits
  ['00000000001', false], // 11 digits, even with leading zeros
  ['-1', false],
  ['1e3', false],
  ['', false],
];
for (const [value, ok] of bounds) {
  test(`min-replicas "${value}" is ${ok ? 'valid' : 'invalid'} (a bound has at most 10 digits)`, () => {
    const r = resolvePolicy({ [ANNOTATIONS.min]: value });
    assert.equal(r.ok, ok);
    if (!r.ok) assert.equal(r.annotation, ANNOTATIONS.min);
  });
}

test('a policy annotation of exactly 32 characters is parsed, 33 is the length error', () => {
  const tol32 = '2.' + '0'.repeat(30);
  assert.equal(resolvePolicy({ [ANNOTATIONS.tolerance]: tol32 }).ok, true);
  assert.deepEqual(resolvePolicy({ [ANNOTATIONS.tolerance]: tol32 + '0' }), {
    ok: false,
    annotation: ANNOTATIONS.tolerance,
    message: 'tolerance is 33 characters long; expected at most 32',
  });
});
