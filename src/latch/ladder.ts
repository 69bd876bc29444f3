// Ladders: the sets of round numbers a declared replica count may latch to. Every ladder holds 0.
// Each ladder is described by two functions over v ≥ 1: the largest point ≤ v and the smallest ≥ v.

export type LadderKind = '1-2-5' | 'sig1' | 'decade' | 'step' | 'exact';

export interface Ladder {
  readonly kind: LadderKind;
  /** N for `step:N`; 0 otherwise */
  readonly step: number;
  /** canonical spelling, as in the annotation */
  readonly name: string;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
}

export const DEFAULT_LADDER = '1-2-5';

/** Largest power of ten ≤ v, for v ≥ 1. Exact for any safe integer. */
function pow10Below(v: number): number {
  let p = 1;
  while (p * 10 <= v) p *= 10;
  return p;
}

export function parseLadder(text: string): Ladder {
  const s = text.trim();
  if (s === '1-2-5' || s === 'sig1' || s === 'decade' || s === 'exact') return { kind: s, step: 0, name: s };
  const m = /^step:(\d+)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n < 1) throw new PolicyError(`"${clip(s)}" needs N ≥ 1 in step:N`);
    return { kind: 'step', step: n, name: `step:${n}` };
  }
  throw new PolicyError(`unknown ladder "${clip(s)}"; expected 1-2-5, sig1, decade, step:N or exact`);
}

/** Largest positive ladder point ≤ v (v ≥ 1). */
export function pointBelow(l: Ladder, v: number): number {
  switch (l.kind) {
    case 'exact':
      return v;
    case 'step':
      return v <= l.step ? v : Math.floor(v / l.step) * l.step;
    case 'decade':
      return pow10Below(v);
    case 'sig1': {
      const p = pow10Below(v);
      return Math.floor(v / p) * p;
    }
    case '1-2-5': {
      const p = pow10Below(v);
      if (v >= 5 * p) return 5 * p;
      if (v >= 2 * p) return 2 * p;
      return p;
    }
  }
}

/** Smallest ladder point ≥ v (v ≥ 1). */
export function pointAbove(l: Ladder, v: number): number {
  switch (l.kind) {
    case 'exact':
      return v;
    case 'step':
      return v <= l.step ? v : Math.ceil(v / l.step) * l.step;
    case 'decade': {
      const p = pow10Below(v);
      return v === p ? p : 10 * p;
    }
    case 'sig1': {
      const p = pow10Below(v);
      return Math.ceil(v / p) * p;
    }
    case '1-2-5': {
      const p = pow10Below(v);
      if (v <= p) return p;
      if (v <= 2 * p) return 2 * p;
      if (v <= 5 * p) return 5 * p;
      return 10 * p;
    }
  }
}

/**
 * nearest(v): the ladder point nearest to v in log space, ties going up.
 * With a < v < b the neighbours, b wins when v·v ≥ a·b.
 */
export function nearest(l: Ladder, v: number): number {
  if (v <= 0) return 0;
  const a = pointBelow(l, v);
  if (a === v) return v;
  const b = pointAbove(l, v);
  // v·v and a·b exceed 2^53 only for v near 10^8; BigInt keeps the comparison exact there.
  const up = v < 94_906_265 ? v * v >= a * b : BigInt(v) * BigInt(v) >= BigInt(a) * BigInt(b);
  return up ? b : a;
}

export function clip(s: string, n = 12): string {
  return s.length > n ? s.slice(0, n) + '…' : s;
}
