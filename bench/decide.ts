// decide() in process: decisions per second on the ~10 KB server-side-apply Deployment review, measured
// both on a parsed review and with JSON.parse + parseReview included (what one request costs).
import { readFileSync } from 'node:fs';
import { decide } from '../src/admission/decide.ts';
import { parseReview } from '../src/admission/review.ts';

const raw = readFileSync(new URL('../test/fixtures/admission/deployment-ssa.json', import.meta.url), 'utf8');
const body = JSON.stringify(JSON.parse(raw));
const parsed = parseReview(JSON.parse(body));

/** Calls per second of fn over `seconds`, after a JIT warm-up. */
function rate(fn: () => unknown, seconds: number): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const cases: Array<[string, () => unknown]> = [
  ['decide(parsed review)', () => decide(parsed)],
  ['JSON.parse + parseReview + decide', () => decide(parseReview(JSON.parse(body)))],
  ['JSON.parse alone (floor)', () => JSON.parse(body)],
];
// Rounds alternate the cases (A B C A B C …) so that a busy machine's drift hits all of them alike; each
// figure is the median of its rounds.
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const rounds = 5;
for (const [, fn] of cases) for (let i = 0; i < 20_000; i++) fn(); // warm up the JIT
const samples = cases.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) cases.forEach(([, fn], i) => samples[i]!.push(rate(fn, seconds / rounds)));
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;

console.log(`review: ${body.length} bytes compact, Node ${process.version}, ${rounds} alternating rounds of ${(seconds / rounds).toFixed(1)} s`);
const [a, b, c] = samples.map(med) as [number, number, number];
cases.forEach(([name], i) => {
  const perSec = med(samples[i]!);
  console.log(`${name.padEnd(44)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} /s  (${(1e6 / perSec).toFixed(2)} µs each)`);
});
console.log(`ratio decide-with-parse / parse-alone: ${(b / c).toFixed(2)}; decide alone ${(a / c).toFixed(1)}× parse rate`);
