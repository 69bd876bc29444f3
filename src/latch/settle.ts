// The settle rule (DESIGN §4, §6), the one both the watcher and `simulate` run: given what was seen
// before and the live v now, is a latch due?
// - v in band(declared) clears the out-of-band start t0;
// - otherwise t0 is set once, and when now - t0 reaches settle-up (v > declared at this check) or
//   settle-down (v ≤ declared), a latch is due: up → latch(v), down → latch(peak of v over the last
//   settle-down), and a downward peak that still latches at or above declared is no latch yet.
// The peak is kept exactly in bounded memory: latch() is monotonic, so latch(max v) = clamp(max nearest(v)),
// and a monotonic deque of ladder points holds at most one entry per ladder point (never the raw series).
// Times are in one unit chosen by the caller (the watcher: milliseconds; simulate: trace seconds) and
// whole numbers where a recheck time matters. The state is never mutated; observe() returns the next one.
import { band, inBand } from './band.ts';
import { nearest } from './ladder.ts';
import { clamp, latch, type Policy } from './policy.ts';

export interface SettleConfig {
  readonly settleUp: number;
  /** also the width of the peak window for a downward latch */
  readonly settleDown: number;
}

/** One entry of the peak window: a ladder point nearest(v), and the last time a v on it was seen. */
export interface PeakPoint {
  /** nearest(v) on the policy's ladder, before the bounds (bounds may change without a restart) */
  readonly point: number;
  /** the last v seen at this point (reported as a downward latch's target) */
  readonly v: number;
  readonly t: number;
}

/** The observations of the last settle-down: ladder points strictly decreasing, times increasing. */
export interface PeakWindow {
  /** the ladder its points are on; another ladder starts the window again */
  readonly ladder: string;
  /** when the window started (first observation, restart, ladder change) */
  readonly since: number;
  readonly points: readonly PeakPoint[];
}

export interface SettleState {
  /** the declared value this state was computed against; a different one restarts t0 */
  readonly declared: number;
  /** when v left band(declared); undefined while in band */
  readonly t0: number | undefined;
  readonly window: PeakWindow;
}

export type Verdict =
  | { readonly kind: 'in-band' }
  /** out of band, not yet for long enough; check again at dueAt (or at the next change of v) */
  | { readonly kind: 'settling'; readonly direction: 'up' | 'down'; readonly since: number; readonly dueAt: number }
  /**
   * settled, but the latch would not move git: a downward peak that still latches at or above
   * declared (recheck when the peak leaves the window), or bounds that clamp latch(v) to declared.
   */
  | { readonly kind: 'held'; readonly direction: 'up' | 'down'; readonly since: number; readonly target: number; readonly recheckAt: number | undefined }
  | {
      readonly kind: 'due';
      readonly direction: 'up' | 'down';
      readonly since: number;
      /** the v that was latched: current v (up), or a v of the window's peak ladder point (down) */
      readonly target: number;
      readonly from: number;
      readonly to: number;
    };

export interface Observation {
  readonly now: number;
  /** live replicas now */
  readonly v: number;
  /** git's declared value (or the latch already on its way to git) */
  readonly declared: number;
}

/**
 * One check. With no previous state (first sight, or after a restart) the window starts empty at now
 * and t0 starts now: settle restarts conservatively, and no downward latch is due before the window
 * has filled (settle-down after its start).
 */
export function observe(prev: SettleState | undefined, o: Observation, policy: Policy, cfg: SettleConfig): { state: SettleState; verdict: Verdict } {
  const window = record(prev?.window, o, policy, cfg.settleDown);
  // A declared value that changed under us (a human edit in git) restarts the settle time.
  let t0 = prev && prev.declared === o.declared ? prev.t0 : undefined;
  const d = o.declared;

  if (inBand(o.v, band(d, policy.tolerance))) {
    return { state: { declared: d, t0: undefined, window }, verdict: { kind: 'in-band' } };
  }
  t0 ??= o.now;
  const up = o.v > d;
  const direction = up ? 'up' : 'down';
  const settle = up ? cfg.settleUp : cfg.settleDown;
  const start = up ? t0 : Math.max(t0, window.since);
  if (o.now - start < settle) {
    return { state: { declared: d, t0, window }, verdict: { kind: 'settling', direction, since: t0, dueAt: start + settle } };
  }
  const peak = window.points[0]!;
  const target = up ? o.v : peak.v;
  const to = up ? latch(policy, o.v) : clamp(policy, peak.point);
  if ((up || to < d) && to !== d) {
    return { state: { declared: to, t0: undefined, window }, verdict: { kind: 'due', direction, since: t0, target, from: d, to } };
  }
  // The peak leaves the window at the first whole time unit after peak.t + settle-down; the current
  // value (the last entry) never leaves while it is live.
  const recheckAt = up || window.points.length === 1 ? undefined : peak.t + cfg.settleDown + 1;
  return { state: { declared: d, t0, window }, verdict: { kind: 'held', direction, since: t0, target, recheckAt } };
}

/**
 * The window after observing v at now: push nearest(v), dropping every entry at or below it (it can
 * no longer be the peak while this one is in the window), then drop the entries seen before
 * now - settle-down. The entry just pushed is the last one and always stays.
 */
export function record(prev: PeakWindow | undefined, o: Pick<Observation, 'now' | 'v'>, policy: Policy, settleDown: number): PeakWindow {
  const ladder = policy.ladder.name;
  const base = prev && prev.ladder === ladder ? prev : { ladder, since: o.now, points: [] };
  const point = nearest(policy.ladder, o.v);
  const points = base.points.slice();
  while (points.length > 0 && points[points.length - 1]!.point <= point) points.pop();
  points.push({ point, v: o.v, t: o.now });
  const from = o.now - settleDown;
  let drop = 0;
  while (points[drop]!.t < from) drop++;
  return { ladder, since: base.since, points: drop > 0 ? points.slice(drop) : points };
}

/**
 * The state with its latest observation's value known to be live until `t` (not before its own time).
 * For a caller that sees every change of v, such as the watcher's informers: without it, a value that
 * held since before the window and changed inside it would drop out of the peak early. `simulate`
 * counts trace rows only (DESIGN §6) and does not use it.
 */
export function liveUntil(prev: SettleState, t: number): SettleState {
  const points = prev.window.points;
  const last = points[points.length - 1];
  if (!last || last.t >= t) return prev;
  return { ...prev, window: { ...prev.window, points: [...points.slice(0, -1), { ...last, t }] } };
}
