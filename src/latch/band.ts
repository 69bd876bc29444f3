// band(d): the live counts that a declared value d tolerates, d/r ≤ v ≤ d·r, computed in integers.
import type { Ratio } from './ratio.ts';

export interface Band {
  readonly lo: number;
  readonly hi: number;
}

/** band(d) for d ≥ 1 is [ceil(d·q/p), floor(d·p/q)]; band(0) = {0}. Independent of the ladder. */
export function band(d: number, r: Ratio): Band {
  if (d <= 0) return { lo: 0, hi: 0 };
  const D = BigInt(d);
  const lo = (D * r.q + r.p - 1n) / r.p;
  const hi = (D * r.p) / r.q;
  return { lo: Number(lo), hi: Number(hi) };
}

export function inBand(v: number, b: Band): boolean {
  return v >= b.lo && v <= b.hi;
}

export function formatBand(b: Band): string {
  return b.lo === b.hi ? `${b.lo}` : `${b.lo}-${b.hi}`;
}
