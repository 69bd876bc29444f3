// `kube-latch simulate --compare`: the policies side by side, as aligned text.
import type { SimulateResult } from '../latch/index.ts';
import { summarize } from './summary.ts';

export interface CompareRow {
  /** the policy as given, e.g. `sig1:1.5` */
  policy: string;
  result: SimulateResult;
}

const HEADERS = ['policy', 'commits', 'commits/day', 'fewer', 'under band', 'maxUnder', 'maxOver', 'overProvision', 'final'];

/** One header row and one row per policy; numbers right-aligned, the policy left-aligned. */
export function renderCompareTable(rows: readonly CompareRow[], span: number): string {
  const cells = rows.map(({ policy, result: r }) => {
    const s = summarize(r, span);
    return [policy, String(r.commits), s.perDay, s.fewer, `${s.underPct}%`, String(r.maxUnder), String(r.maxOver), s.overProvision, String(r.final)];
  });
  const widths = HEADERS.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(HEADERS), ...cells.map(line)].join('\n') + '\n';
}
