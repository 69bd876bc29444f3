// The numbers an operator reads off a replay, derived once so the text summary, the comparison table
// and the plot titles always agree.
import type { SimulateResult } from '../latch/index.ts';

export interface Summary {
  /** seconds from the first row to the last */
  span: number;
  days: number;
  /** commits per day, two decimals, or "n/a" for a zero-length trace */
  perDay: string;
  /** how many times fewer commits than writing every change, e.g. "200×", or "n/a" without commits */
  fewer: string;
  /** underSeconds as a percentage of the span, three decimals, without the % sign */
  underPct: string;
  /** overProvision as printed, or "n/a" when the trace has no live capacity at all */
  overProvision: string;
}

export function summarize(r: SimulateResult, span: number): Summary {
  const days = span / 86400;
  return {
    span,
    days,
    perDay: days > 0 ? (r.commits / days).toFixed(2) : 'n/a',
    fewer: r.commits > 0 ? `${Math.round(r.changes / r.commits)}×` : 'n/a',
    underPct: span > 0 ? ((100 * r.underSeconds) / span).toFixed(3) : '0.000',
    overProvision: r.overProvision === undefined ? 'n/a' : String(r.overProvision),
  };
}
