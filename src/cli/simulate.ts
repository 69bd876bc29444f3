// `kube-latch simulate`: replay a replica trace through a policy (DESIGN §6), or several policies side by
// side (`--compare`), and optionally draw the replay as an SVG (`--plot`).
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  DEFAULT_SETTLE_DOWN,
  DEFAULT_SETTLE_UP,
  describePolicy,
  parseTrace,
  policyFromFlags,
  PolicyError,
  simulate,
  TraceError,
  type Policy,
  type SimulateResult,
  type TraceRow,
} from '../latch/index.ts';
import { renderCompareTable, renderPlot, summarize, type PlotPanel } from '../report/index.ts';
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
  { name: 'json', type: 'boolean', help: 'print the result as JSON (with --compare, an array tagged by policy)' },
  { name: 'plot', type: 'string', arg: 'FILE.svg', help: 'also draw the replay as a self-contained SVG (small multiples with --compare)' },
  {
    name: 'compare',
    type: 'string',
    arg: 'LIST',
    help: 'replay several LADDER:TOLERANCE policies side by side, e.g. "1-2-5:2,sig1:1.5,decade:3.2"; replaces --ladder/--tolerance, while bounds and settle apply to each',
  },
];

/** One policy of a --compare list, as the operator wrote it. */
export interface NamedPolicy {
  label: string;
  policy: Policy;
}

/**
 * Parses a --compare list: comma-separated `LADDER:TOLERANCE` items, split at the LAST colon so that
 * `step:10:1.4` is ladder `step:10`, tolerance 1.4. Throws UsageError naming the first bad item.
 */
export function parsePolicyList(text: string, bounds: { min?: number; max?: number }): NamedPolicy[] {
  const items = text.split(',').map((x) => x.trim());
  if (items.every((x) => x === '')) throw new UsageError('--compare needs at least one LADDER:TOLERANCE policy');
  return items.map((label) => {
    const at = label.lastIndexOf(':');
    if (label === '' || at <= 0 || at === label.length - 1) {
      throw new UsageError(`--compare: policy "${label.slice(0, 40)}" is not LADDER:TOLERANCE (e.g. 1-2-5:2, step:10:1.4)`);
    }
    try {
      return { label, policy: policyFromFlags({ ladder: label.slice(0, at), tolerance: label.slice(at + 1), ...bounds }) };
    } catch (e) {
      if (e instanceof PolicyError) throw new UsageError(`--compare: policy "${label.slice(0, 40)}": ${e.message}`);
      throw e;
    }
  });
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(simulateFlags, argv);
  if (f['help']) {
    process.stdout.write(helpText('kube-latch simulate --trace FILE [flags]', 'Replays a replica trace through a latch policy and reports commits and recovery ratios.', simulateFlags));
    return 0;
  }
  const tracePath = requireStr(f, 'trace');
  const min = int(f, 'min');
  const max = int(f, 'max');
  const compare = str(f, 'compare');
  let policies: NamedPolicy[];
  if (compare !== undefined) {
    policies = parsePolicyList(compare, { min, max });
  } else {
    try {
      const policy = policyFromFlags({ ladder: str(f, 'ladder'), tolerance: str(f, 'tolerance'), min, max });
      policies = [{ label: describePolicy(policy), policy }];
    } catch (e) {
      if (e instanceof PolicyError) throw new UsageError(e.message);
      throw e;
    }
  }
  const settle = seconds(f, 'settle');
  const settleUp = seconds(f, 'settle-up') ?? settle ?? DEFAULT_SETTLE_UP;
  const settleDown = seconds(f, 'settle-down') ?? settle ?? DEFAULT_SETTLE_DOWN;
  const initial = int(f, 'initial');
  const plotPath = str(f, 'plot');
  if (plotPath === '') throw new UsageError('--plot expects a file name');

  const rows = await loadTrace(tracePath);
  const results = policies.map((p) => simulate(rows, { policy: p.policy, settleUp, settleDown, initial }));
  const span = rows[rows.length - 1]!.t - rows[0]!.t;

  let plotNote = '';
  if (plotPath !== undefined) {
    const panels: PlotPanel[] = policies.map((p, i) => ({ label: p.label, tolerance: p.policy.tolerance, result: results[i]! }));
    const svg = renderPlot({ name: basename(tracePath), rows, panels, settleUp, settleDown });
    try {
      await writeFile(plotPath, svg);
    } catch (e) {
      throw new UsageError(`cannot write --plot ${plotPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    plotNote = `plot          ${plotPath} (${(Buffer.byteLength(svg) / 1024).toFixed(1)} KiB)\n`;
  }

  if (compare !== undefined) {
    if (bool(f, 'json')) {
      process.stdout.write(JSON.stringify(policies.map((p, i) => ({ policy: p.label, ...results[i]! }))) + '\n');
    } else {
      process.stdout.write(renderCompareHeader(basename(tracePath), rows, results[0]!, settleUp, settleDown, span) + renderCompareTable(policies.map((p, i) => ({ policy: p.label, result: results[i]! })), span) + plotNote);
    }
    return 0;
  }
  const result = results[0]!;
  if (bool(f, 'json')) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(renderText(result, policies[0]!.label, settleUp, settleDown, span) + plotNote);
  return 0;
}

async function loadTrace(tracePath: string): Promise<TraceRow[]> {
  let text: string;
  try {
    text = await readFile(tracePath, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --trace ${tracePath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseTrace(text);
  } catch (e) {
    if (e instanceof TraceError) throw new UsageError(`${tracePath}: ${e.message}`);
    throw e;
  }
}

function renderCompareHeader(name: string, rows: readonly TraceRow[], r: SimulateResult, up: number, down: number, span: number): string {
  return [
    `trace         ${name}: ${rows.length} rows over ${(span / 86400).toFixed(2)} days, ${r.changes} changes (commits if every change were written)`,
    `settle        up ${up}s, down ${down}s`,
    '',
    '',
  ].join('\n');
}

export function renderText(r: SimulateResult, policy: string, up: number, down: number, span: number): string {
  const s = summarize(r, span);
  return [
    `policy        ${policy}, settle-up ${up}s, settle-down ${down}s`,
    `rows          ${r.rows} over ${s.days.toFixed(2)} days`,
    `changes       ${r.changes} (commits if every change were written)`,
    `commits       ${r.commits} (${s.perDay} a day, ${s.fewer} fewer)`,
    `under band    ${r.underSeconds}s (${s.underPct}% of the time a rebuild from git comes back below the band)`,
    `max under     ${r.maxUnder} (live / git)`,
    `max over      ${r.maxOver} (git / live)`,
    `overProvision ${s.overProvision} (Σ git·time / Σ live·time: what a rebuild from git brings up, on average, per live replica)`,
    `final         ${r.final}`,
    '',
  ].join('\n');
}
