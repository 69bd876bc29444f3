// Step series and their SVG paths. A trace row holds its value from its t on, and git's declared value
// changes only at a latch, so both are step functions. A path with one vertex per row would make an
// 87,000-row trace a multi-megabyte SVG; instead, when a series has more steps than the plot has pixel
// columns, each column is drawn as one vertical stroke from its minimum to its maximum, so every peak
// and every dip survives at the resolution the screen can show.
import type { Latch, SimulateResult, TraceRow } from '../latch/index.ts';
import { px } from './xml.ts';

export interface StepSeries {
  /** times, non-decreasing; value i holds from t[i] until t[i + 1] (the last until the end of the axis) */
  t: number[];
  y: number[];
}

export function liveSeries(rows: readonly TraceRow[]): StepSeries {
  return { t: rows.map((r) => r.t), y: rows.map((r) => r.v) };
}

/**
 * Git's declared value over time, from a replay's result: it starts at the first latch's `from` (the
 * initial value) and becomes each latch's `to` at its row time. The latch list is the whole history of
 * d, so the replay need not emit a per-row series.
 */
export function declaredSeries(rows: readonly TraceRow[], r: Pick<SimulateResult, 'latches' | 'final'>): StepSeries {
  const start = rows[0]?.t ?? 0;
  const first: Latch | undefined = r.latches[0];
  const s: StepSeries = { t: [start], y: [first ? first.from : r.final] };
  for (const l of r.latches) {
    s.t.push(l.t);
    s.y.push(l.to);
  }
  return s;
}

/** Maps the series' domain onto pixels. */
export interface Frame {
  /** time at the left and right edges */
  t0: number;
  t1: number;
  left: number;
  width: number;
  /** value → y pixel */
  y: (v: number) => number;
}

export function xOf(f: Frame, t: number): number {
  const span = f.t1 - f.t0;
  return span > 0 ? f.left + ((t - f.t0) / span) * f.width : f.left;
}

/** A column-bucketed view of a step series: per pixel column the min, max and last value. */
export interface Buckets {
  /** column index of each bucket, increasing */
  col: number[];
  min: number[];
  max: number[];
  last: number[];
}

/** Buckets a series into `cols` equal time columns over [t0, t1]; empty columns are left out. */
export function bucket(s: StepSeries, t0: number, t1: number, cols: number): Buckets {
  const out: Buckets = { col: [], min: [], max: [], last: [] };
  const span = t1 - t0;
  for (let i = 0; i < s.t.length; i++) {
    const c = span > 0 ? Math.min(cols - 1, Math.max(0, Math.floor(((s.t[i]! - t0) / span) * cols))) : 0;
    const v = s.y[i]!;
    const k = out.col.length - 1;
    if (k >= 0 && out.col[k] === c) {
      if (v < out.min[k]!) out.min[k] = v;
      if (v > out.max[k]!) out.max[k] = v;
      out.last[k] = v;
    } else {
      out.col.push(c);
      out.min.push(v);
      out.max.push(v);
      out.last.push(v);
    }
  }
  return out;
}

/**
 * The path `d` of a step series: exact steps when there are at most two per pixel column, otherwise
 * one min-to-max stroke per column. Either way the path ends at the right edge.
 */
export function stepPath(s: StepSeries, f: Frame): string {
  const n = s.t.length;
  if (n === 0) return '';
  const cols = Math.max(1, Math.round(f.width));
  const parts: string[] = [];
  if (n <= 2 * cols) {
    parts.push(`M${px(xOf(f, s.t[0]!))} ${px(f.y(s.y[0]!))}`);
    for (let i = 1; i < n; i++) {
      if (s.y[i] === s.y[i - 1]) continue;
      parts.push(`H${px(xOf(f, s.t[i]!))}V${px(f.y(s.y[i]!))}`);
    }
  } else {
    const b = bucket(s, f.t0, f.t1, cols);
    const colWidth = f.width / cols;
    parts.push(`M${px(f.left)} ${px(f.y(s.y[0]!))}`);
    let prev = s.y[0]!;
    for (let k = 0; k < b.col.length; k++) {
      const lo = b.min[k]!;
      const hi = b.max[k]!;
      const last = b.last[k]!;
      if (lo === prev && hi === prev) continue; // flat column: the horizontal run carries on
      const x = px(f.left + (b.col[k]! + 0.5) * colWidth);
      // From the carried-in value up to the column's max, down to its min, then to the value it leaves with.
      parts.push(`H${x}V${px(f.y(hi))}V${px(f.y(lo))}V${px(f.y(last))}`);
      prev = last;
    }
  }
  parts.push(`H${px(f.left + f.width)}`);
  return parts.join('');
}

/**
 * The band [lo, hi] of each declared step as filled rectangles, in one path. With more steps than pixel
 * columns, each column gets one rectangle from the lowest lo to the highest hi in it.
 */
export function bandPath(d: StepSeries, bandOf: (d: number) => { lo: number; hi: number }, f: Frame): string {
  const n = d.t.length;
  const cols = Math.max(1, Math.round(f.width));
  const rect = (x0: number, x1: number, lo: number, hi: number) => {
    const yTop = f.y(hi);
    const yBottom = f.y(lo);
    return `M${px(x0)} ${px(yTop)}H${px(x1)}V${px(yBottom)}H${px(x0)}Z`;
  };
  const parts: string[] = [];
  if (n <= cols) {
    for (let i = 0; i < n; i++) {
      const b = bandOf(d.y[i]!);
      const x0 = xOf(f, d.t[i]!);
      const x1 = i + 1 < n ? xOf(f, d.t[i + 1]!) : f.left + f.width;
      if (x1 > x0) parts.push(rect(x0, x1, b.lo, b.hi));
    }
    return parts.join('');
  }
  // Per column: the union of the bands in force during it, including the one carried in.
  const lows: StepSeries = { t: d.t, y: d.y.map((v) => bandOf(v).lo) };
  const highs: StepSeries = { t: d.t, y: d.y.map((v) => bandOf(v).hi) };
  const bl = bucket(lows, f.t0, f.t1, cols);
  const bh = bucket(highs, f.t0, f.t1, cols);
  const colWidth = f.width / cols;
  let carryLo = lows.y[0]!;
  let carryHi = highs.y[0]!;
  let k = 0;
  let run: { from: number; lo: number; hi: number } | undefined;
  for (let c = 0; c < cols; c++) {
    let lo = carryLo;
    let hi = carryHi;
    if (k < bl.col.length && bl.col[k] === c) {
      lo = Math.min(lo, bl.min[k]!);
      hi = Math.max(hi, bh.max[k]!);
      carryLo = bl.last[k]!;
      carryHi = bh.last[k]!;
      k++;
    }
    // Neighbouring columns with the same band merge into one rectangle.
    if (run && run.lo === lo && run.hi === hi) continue;
    if (run) parts.push(rect(f.left + run.from * colWidth, f.left + c * colWidth, run.lo, run.hi));
    run = { from: c, lo, hi };
  }
  if (run) parts.push(rect(f.left + run.from * colWidth, f.left + f.width, run.lo, run.hi));
  return parts.join('');
}
