// decide() in process: decisions per second on the ~10 KB server-side-apply Deployment review, measured
// both on a parsed review and with JSON.parse + parseReview included (what one request costs).
import { readFileSync } from 'node:fs';
import { decide } from '../src/admission/decide.ts';
import { parseReview } from '../src/admission/review.ts';

const raw = readFileSync(new URL('../test/fixtures/admission/deployment-ssa.json', import.meta.url), 'utf8');
const body = JSON.stringify(JSON.parse(raw));
const parsed = parseReview(JSON.parse(body));

function rate(name: string, fn: () => unknown, seconds = Number(process.env['BENCH_SECONDS'] ?? 3)): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm up the JIT
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  const perSec = n / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(44)} ${Math.round(perSec).toLocaleString('en-US').padStart(12)} /s  (${(1e6 / perSec).toFixed(2)} µs each)`);
  return perSec;
}

console.log(`review: ${body.length} bytes compact, Node ${process.version}`);
const a = rate('decide(parsed review)', () => decide(parsed));
const b = rate('JSON.parse + parseReview + decide', () => decide(parseReview(JSON.parse(body))));
const c = rate('JSON.parse alone (floor)', () => JSON.parse(body));
console.log(`ratio decide-with-parse / parse-alone: ${(b / c).toFixed(2)}; decide alone ${(a / c).toFixed(1)}× parse rate`);
