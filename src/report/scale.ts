// Axis scales. The y scale is logarithmic when the positive values span more than LOG_RATIO (a trace
// that idles at 2 and peaks at 200 would otherwise hide everything below 20 in the bottom tenth), and
// linear otherwise. On a log scale, zero gets its own strip at the bottom, so an outage stays visible.

/** log y scale when max / min of the positive values exceeds this */
export const LOG_RATIO = 20;
/** share of the plot height kept for zero under a log scale */
const ZERO_STRIP = 0.06;

export interface YScale {
  kind: 'log' | 'linear';
  /** domain ends: lo > 0 for log, 0 for linear */
  lo: number;
  hi: number;
  /** value → fraction of the height from the bottom, clamped to [0, 1] */
  frac(v: number): number;
  ticks: number[];
}

/** Points of the 1-2-5 series: 1, 2, 5, 10, 20, 50, … */
function series125(i: number): number {
  const k = [1, 2, 5][((i % 3) + 3) % 3]!;
  return k * 10 ** Math.floor(i / 3);
}

/** Largest 1-2-5 point ≤ x (x ≥ 1). */
function floor125(x: number): number {
  let i = 0;
  while (series125(i + 1) <= x) i++;
  return series125(i);
}

/** Smallest 1-2-5 point ≥ x (x ≥ 1). */
function ceil125(x: number): number {
  let i = 0;
  while (series125(i) < x) i++;
  return series125(i);
}

/**
 * Chooses the y scale for a set of replica counts (live and declared). `max / minPositive > LOG_RATIO`
 * gives a log scale over 1-2-5 points around the data; anything else a linear scale from 0.
 */
export function chooseYScale(values: Iterable<number>): YScale {
  let minPos = Infinity;
  let max = 0;
  let hasZero = false;
  for (const v of values) {
    if (v > 0) minPos = Math.min(minPos, v);
    else hasZero = true;
    max = Math.max(max, v);
  }
  if (minPos !== Infinity && max / minPos > LOG_RATIO) return logScale(minPos, max, hasZero);
  return linearScale(max);
}

function logScale(minPos: number, max: number, hasZero: boolean): YScale {
  const lo = floor125(Math.max(1, minPos));
  const hi = ceil125(max);
  const base = hasZero ? ZERO_STRIP : 0;
  const span = Math.log(hi / lo);
  let ticks: number[] = [];
  for (let i = 0; series125(i) <= hi; i++) if (series125(i) >= lo) ticks.push(series125(i));
  if (ticks.length > 10) ticks = ticks.filter((t) => /^10*$/.test(String(t))); // decades only
  if (hasZero) ticks.unshift(0);
  return {
    kind: 'log',
    lo,
    hi,
    frac: (v) => (v <= 0 ? 0 : clamp01(base + (1 - base) * (Math.log(v / lo) / span))),
    ticks,
  };
}

function linearScale(max: number): YScale {
  // A step of 1, 2 or 5 × 10ⁿ that gives at most 8 intervals; replica counts are integers, so ≥ 1.
  let i = 0;
  while (series125(i) * 8 < max) i++;
  const step = series125(i);
  const hi = Math.max(step, Math.ceil(max / step) * step);
  const ticks: number[] = [];
  for (let t = 0; t <= hi; t += step) ticks.push(t);
  return { kind: 'linear', lo: 0, hi, frac: (v) => clamp01(v / hi), ticks };
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, x));
}

export interface TimeAxis {
  unit: 'seconds' | 'minutes' | 'hours' | 'days';
  /** seconds per unit */
  seconds: number;
  /** tick offsets in seconds from the start of the trace */
  ticks: number[];
}

const MAX_TIME_TICKS = 16;
const UNITS: Array<{ unit: TimeAxis['unit']; seconds: number; below: number; steps: number[] }> = [
  { unit: 'seconds', seconds: 1, below: 120, steps: [1, 2, 5, 10, 15, 30] },
  { unit: 'minutes', seconds: 60, below: 2 * 3600, steps: [1, 2, 5, 10, 15, 30] },
  { unit: 'hours', seconds: 3600, below: 3 * 86400, steps: [1, 2, 3, 6, 12] },
  { unit: 'days', seconds: 86400, below: Infinity, steps: [1, 2, 7, 14, 28, 56, 91, 182, 364] },
];

/** Days for spans of three days or more, hours below, minutes and seconds for short traces; at most 16 ticks. */
export function timeAxis(span: number): TimeAxis {
  const u = UNITS.find((x) => span < x.below)!;
  const inUnits = span / u.seconds;
  const step = u.steps.find((s) => inUnits / s <= MAX_TIME_TICKS) ?? Math.ceil(inUnits / MAX_TIME_TICKS);
  const ticks: number[] = [];
  for (let k = 0; k * step <= inUnits + 1e-9; k++) ticks.push(k * step * u.seconds);
  return { unit: u.unit, seconds: u.seconds, ticks };
}
