// Settle logic (DESIGN §4), pure: given what was seen before and the live value now, is a latch due?
// The same rules as simulate() in src/latch, over real time instead of trace rows:
// - v in band(declared) clears the out-of-band start t0;
// - otherwise t0 is set once, and when now - t0 reaches settle-up (v > declared at this check) or
//   settle-down (v ≤ declared), a latch is due: up → latch(v), down → latch(peak of v over the last
//   settle-down), and a downward peak that still latches at or above declared is no latch yet.
// Times are milliseconds. The state is never mutated; observe() returns the next one.
import { band, inBand, latch, type Policy } from '../latch/index.ts';

export interface SettleConfig {
  readonly settleUpMs: number;
  /** also the width of the peak window for a downward latch */
  readonly settleDownMs: number;
}

/** A change point of the live value: v holds from t until the next sample. */
export interface Sample {
  readonly t: number;
  readonly v: number;
}

export interface SettleState {
  /** the declared value this state was computed against; a different one restarts t0 */
  readonly declared: number;
  /** when v left band(declared); undefined while in band */
  readonly t0: number | undefined;
  /**
   * Change points of v, oldest first. All samples at or after the window start are kept, plus the
   * last one before it (its value holds into the window).
   */
  readonly samples: readonly Sample[];
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
      /** the v that was latched: current v (up) or the window peak (down) */
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
 * One check. Call it on every change of v, of declared or of policy, and when a previous verdict's
 * dueAt / recheckAt arrives. With no previous state (first sight, or after a restart) the window
 * starts with the current v and t0 starts now: settle restarts conservatively.
 */
export function observe(
  prev: SettleState | undefined,
  o: Observation,
  policy: Policy,
  cfg: SettleConfig,
): { state: SettleState; verdict: Verdict } {
  const windowStart = o.now - cfg.settleDownMs;
  const samples = prev ? prev.samples.slice() : [];
  const last = samples[samples.length - 1];
  if (!last || last.v !== o.v) samples.push({ t: o.now, v: o.v });
  // Drop a sample whose hold ended at or before the window start.
  while (samples.length >= 2 && samples[0]!.t < windowStart && samples[1]!.t <= windowStart) samples.shift();

  // A declared value that changed under us (a human edit in git) restarts the settle time.
  let t0 = prev && prev.declared === o.declared ? prev.t0 : undefined;
  const d = o.declared;

  if (inBand(o.v, band(d, policy.tolerance))) {
    return { state: { declared: d, t0: undefined, samples }, verdict: { kind: 'in-band' } };
  }
  t0 ??= o.now;
  const up = o.v > d;
  const direction = up ? 'up' : 'down';
  const settle = up ? cfg.settleUpMs : cfg.settleDownMs;
  if (o.now - t0 < settle) {
    return { state: { declared: d, t0, samples }, verdict: { kind: 'settling', direction, since: t0, dueAt: t0 + settle } };
  }
  const peak = up ? undefined : windowPeak(samples, windowStart);
  const target = up ? o.v : peak!.v;
  const to = latch(policy, target);
  if ((up || to < d) && to !== d) {
    return {
      state: { declared: to, t0: undefined, samples },
      verdict: { kind: 'due', direction, since: t0, target, from: d, to },
    };
  }
  const recheckAt = peak?.leavesAt === undefined ? undefined : peak.leavesAt + cfg.settleDownMs;
  return { state: { declared: d, t0, samples }, verdict: { kind: 'held', direction, since: t0, target, recheckAt } };
}

/**
 * The largest v held at any moment of [windowStart, now], and when its last occurrence stopped
 * holding (undefined when it is the current value): the peak leaves the window settle-down after that.
 */
export function windowPeak(samples: readonly Sample[], windowStart: number): { v: number; leavesAt: number | undefined } {
  let best = -1;
  let leavesAt: number | undefined;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    const next = samples[i + 1];
    // A sample before the window counts only if it still held at the window start.
    if (s.t < windowStart && next !== undefined && next.t <= windowStart) continue;
    if (s.v >= best) {
      best = s.v;
      leavesAt = next?.t;
    }
  }
  return { v: best, leavesAt };
}
