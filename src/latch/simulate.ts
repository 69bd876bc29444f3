// Replays a replica trace through the watcher's own settle rule (src/latch/settle.ts, DESIGN §6): how
// often git would change, and how far a cluster rebuilt from git at any moment would be from what it needed.
import { band } from './band.ts';
import { latch, type Policy } from './policy.ts';
import { observe, type SettleState } from './settle.ts';
import type { TraceRow } from './trace.ts';

export interface SimulateOptions {
  policy: Policy;
  /** seconds a rise must persist out of band before it latches (watcher default 60) */
  settleUp: number;
  /** seconds a fall must persist, and the peak window of a downward latch (watcher default 86400) */
  settleDown: number;
  /** git's starting value; default latch(v at the first row) */
  initial?: number;
}

export interface Latch {
  t: number;
  from: number;
  to: number;
}

export interface SimulateResult {
  rows: number;
  changes: number;
  commits: number;
  maxUnder: number;
  maxOver: number;
  underSeconds: number;
  /**
   * Σ (t(next) − t)·d / Σ (t(next) − t)·v over the rows that underSeconds sums, d after the row: how much
   * capacity a rebuild from git brings up on average, relative to live. Absent when Σ v·time is 0.
   */
  overProvision?: number;
  final: number;
  latches: Latch[];
}

export const DEFAULT_SETTLE_UP = 60;
export const DEFAULT_SETTLE_DOWN = 86400;

export function simulate(rows: readonly TraceRow[], o: SimulateOptions): SimulateResult {
  const p = o.policy;
  const cfg = { settleUp: o.settleUp, settleDown: o.settleDown };
  const first = rows[0];
  let d = o.initial ?? (first ? latch(p, first.v) : 0);
  let state: SettleState | undefined;
  let commits = 0;
  let changes = 0;
  let maxUnder = 0;
  let maxOver = 0;
  let underSeconds = 0;
  let declaredTime = 0;
  let liveTime = 0;
  const latches: Latch[] = [];

  for (let i = 0; i < rows.length; i++) {
    const { t, v } = rows[i]!;
    if (i > 0 && v !== rows[i - 1]!.v) changes++;

    // One check per row, through the watcher's own rule.
    const step = observe(state, { now: t, v, declared: d }, p, cfg);
    state = step.state;
    if (step.verdict.kind === 'due') {
      latches.push({ t, from: d, to: step.verdict.to });
      d = step.verdict.to;
      commits++;
    }

    if (d >= 1) maxUnder = Math.max(maxUnder, v / d);
    if (v >= 1) maxOver = Math.max(maxOver, d / v);
    const next = rows[i + 1];
    if (next) {
      const held = next.t - t;
      if (v > band(d, p.tolerance).hi) underSeconds += held;
      declaredTime += held * d;
      liveTime += held * v;
    }
  }
  return {
    rows: rows.length,
    changes,
    commits,
    maxUnder: round3(maxUnder),
    maxOver: round3(maxOver),
    underSeconds,
    ...(liveTime > 0 ? { overProvision: round3(declaredTime / liveTime) } : {}),
    final: d,
    latches,
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
