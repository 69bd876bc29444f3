// Issue 12 §2: what each parser of request, annotation, flag and git data costs on 200,000-character
// adversarial input (test/helpers/adversarial.ts), and, for contrast, what the two regexes it replaced
// cost on far shorter input (they are quadratic: doubling the input quadruples the time).
//   node bench/parsers.ts          (run under the shared lock: flock /tmp/kube-latch-e2e.lock node bench/parsers.ts)
// Prints one row per parser: the worst family and its median time over the runs, in microseconds.
import { decide } from '../src/admission/decide.ts';
import { parseFlags, seconds, type FlagSpec } from '../src/cli/flags.ts';
import { makeScrubber, parseRemote } from '../src/git/auth.ts';
import { classify, summary } from '../src/git/exec.ts';
import { parseKindSpec } from '../src/kube/client.ts';
import { parseDuration } from '../src/latch/duration.ts';
import { ANNOTATIONS, parseDecimal, parseTolerance, resolvePolicy } from '../src/latch/index.ts';
import { redactUrl } from '../src/redact.ts';
import { parseRollout } from '../src/rollout/format.ts';
import { adversarialFamilies } from '../test/helpers/adversarial.ts';
import { review, workload } from '../test/helpers/reviews.ts';
import { describeMachine } from './lib/proc.ts';

const N = 200_000;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 25);
const families = adversarialFamilies(N);
const swallow = (fn: () => unknown) => () => {
  try {
    fn();
  } catch {
    // the length error is the expected answer
  }
};
const flag: FlagSpec[] = [{ name: 'settle-up', type: 'string', help: '' }];

const parsers: Record<string, (s: string) => () => void> = {
  'resolvePolicy (ladder)': (s) => () => void resolvePolicy({ [ANNOTATIONS.ladder]: s }),
  'resolvePolicy (tolerance)': (s) => () => void resolvePolicy({ [ANNOTATIONS.tolerance]: s }),
  'resolvePolicy (min-replicas)': (s) => () => void resolvePolicy({ [ANNOTATIONS.min]: s }),
  'resolvePolicy (max-replicas)': (s) => () => void resolvePolicy({ [ANNOTATIONS.max]: s }),
  parseTolerance: (s) => swallow(() => parseTolerance(s)),
  parseDecimal: (s) => () => void parseDecimal(s),
  parseDuration: (s) => () => void parseDuration(s),
  'seconds (duration flag)': (s) => swallow(() => seconds({ x: s }, 'x')),
  'parseFlags (argv)': (s) => swallow(() => parseFlags(flag, ['--settle-up', s], {})),
  parseRollout: (s) => () => void parseRollout(s),
  parseRemote: (s) => swallow(() => parseRemote(s)),
  parseKindSpec: (s) => swallow(() => parseKindSpec(s)),
  redactUrl: (s) => () => void redactUrl(s),
  'makeScrubber (git output)': (s) => {
    const scrub = makeScrubber(['tok-123456', 'dG9rLTEyMzQ1Ng==']);
    return () => void scrub(s);
  },
  'classify (git stderr)': (s) => () => void classify('push', { code: 1, stdout: '', stderr: s, timedOut: false }),
  'summary (git stderr)': (s) => () => void summary(s),
  'decide (tolerance annotation)': (s) => {
    const rv = review({ operation: 'CREATE', object: workload({ replicas: 3, annotations: { [ANNOTATIONS.tolerance]: s } }) });
    return () => void decide(rv);
  },
};

function medianMicros(fn: () => void, runs = RUNS): number {
  fn(); // warm
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}

console.log(`parsers on ${N.toLocaleString('en')}-character adversarial input (${Object.keys(families).length} families), median of ${RUNS} runs`);
console.log(`machine: ${describeMachine()}\n`);
console.log(`${'parser'.padEnd(32)} ${'worst family'.padEnd(34)} ${'µs'.padStart(9)}`);
let worstOverall = 0;
for (const [name, make] of Object.entries(parsers)) {
  let worst = { family: '', us: -1 };
  for (const [family, input] of Object.entries(families)) {
    const us = medianMicros(make(input));
    if (us > worst.us) worst = { family, us };
  }
  worstOverall = Math.max(worstOverall, worst.us);
  console.log(`${name.padEnd(32)} ${worst.family.padEnd(34)} ${worst.us.toFixed(1).padStart(9)}`);
}
console.log(`\nslowest parser on any family: ${worstOverall.toFixed(1)} µs`);

// The regexes replaced, on short input: enough to see the quadratic growth, far from the 31.6 s of 200k.
const oldStrip = (z: number) => () => void ('0'.repeat(z) + '1').replace(/0+$/, '');
const oldRedact = (z: number) => () => void 'a'.repeat(z).replace(/([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/gi, '$1:[redacted]@');
console.log('\nthe regexes replaced (old formatRatio /0+$/ on "0…01", old redactUrl on "aaa…"):');
for (const z of [2_000, 4_000, 8_000]) {
  console.log(`  ${String(z).padStart(5)} chars: /0+$/ ${(medianMicros(oldStrip(z), 5) / 1000).toFixed(1).padStart(7)} ms   redactUrl ${(medianMicros(oldRedact(z), 5) / 1000).toFixed(1).padStart(7)} ms`);
}
