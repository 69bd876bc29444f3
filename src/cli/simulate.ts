// `kube-latch simulate`: replay a replica trace through a policy (DESIGN §6).
import { readFile } from 'node:fs/promises';
import {
  DEFAULT_SETTLE_DOWN,
  DEFAULT_SETTLE_UP,
  describePolicy,
  parseTrace,
  policyFromFlags,
  PolicyError,
  simulate,
  TraceError,
  type SimulateResult,
} from '../latch/index.ts';
import { bool, helpText, int, parseFlags, requireStr, seconds, str, UsageError, type FlagSpec } from './flags.ts';

export const simulateFlags: FlagSpec[] = [
  { name: 'trace', type: 'string', arg: 'FILE', help: 'CSV with header t,replicas (t in seconds)' },
  { name: 'ladder', type: 'string', arg: 'LADDER', help: 'round numbers: 1-2-5, sig1, decade, step:N, exact', default: '1-2-5' },
  { name: 'tolerance', type: 'string', arg: 'R', help: 'band ratio r ≥ 1', default: '2' },
  { name: 'min', type: 'string', arg: 'N', help: 'lower bound for latch points' },
  { name: 'max', type: 'string', arg: 'N', help: 'upper bound for latch points' },
  { name: 'settle', type: 'string', arg: 'SECONDS', help: 'sets both settle-up and settle-down' },
  { name: 'settle-up', type: 'string', arg: 'SECONDS', help: `settle time above the band (default ${DEFAULT_SETTLE_UP})` },
  { name: 'settle-down', type: 'string', arg: 'SECONDS', help: `settle time below the band, and peak window (default ${DEFAULT_SETTLE_DOWN})` },
  { name: 'initial', type: 'string', arg: 'D', help: "git's starting value (default latch of the first row)" },
  { name: 'json', type: 'boolean', help: 'print the result as JSON' },
];

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(simulateFlags, argv);
  if (f['help']) {
    process.stdout.write(helpText('kube-latch simulate --trace FILE [flags]', 'Replays a replica trace through a latch policy and reports commits and recovery ratios.', simulateFlags));
    return 0;
  }
  const tracePath = requireStr(f, 'trace');
  let policy;
  try {
    policy = policyFromFlags({
      ladder: str(f, 'ladder'),
      tolerance: str(f, 'tolerance'),
      min: int(f, 'min'),
      max: int(f, 'max'),
    });
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(e.message);
    throw e;
  }
  const settle = seconds(f, 'settle');
  const settleUp = seconds(f, 'settle-up') ?? settle ?? DEFAULT_SETTLE_UP;
  const settleDown = seconds(f, 'settle-down') ?? settle ?? DEFAULT_SETTLE_DOWN;
  const initial = int(f, 'initial');

  let text: string;
  try {
    text = await readFile(tracePath, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --trace ${tracePath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let rows;
  try {
    rows = parseTrace(text);
  } catch (e) {
    if (e instanceof TraceError) throw new UsageError(`${tracePath}: ${e.message}`);
    throw e;
  }
  const result = simulate(rows, { policy, settleUp, settleDown, initial });
  if (bool(f, 'json')) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(renderText(result, describePolicy(policy), settleUp, settleDown, rows[rows.length - 1]!.t - rows[0]!.t));
  return 0;
}

export function renderText(r: SimulateResult, policy: string, up: number, down: number, span: number): string {
  const days = span / 86400;
  const perDay = days > 0 ? (r.commits / days).toFixed(2) : 'n/a';
  const fewer = r.commits > 0 ? `${Math.round(r.changes / r.commits)}×` : 'n/a';
  const underPct = span > 0 ? ((100 * r.underSeconds) / span).toFixed(3) : '0.000';
  return [
    `policy        ${policy}, settle-up ${up}s, settle-down ${down}s`,
    `rows          ${r.rows} over ${days.toFixed(2)} days`,
    `changes       ${r.changes} (commits if every change were written)`,
    `commits       ${r.commits} (${perDay} a day, ${fewer} fewer)`,
    `under band    ${r.underSeconds}s (${underPct}% of the time a rebuild from git comes back below the band)`,
    `max under     ${r.maxUnder} (live / git)`,
    `max over      ${r.maxOver} (git / live)`,
    `final         ${r.final}`,
    '',
  ].join('\n');
}
