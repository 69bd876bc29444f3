// A policy is a ladder, a tolerance and bounds. It is valid only when every v in 1..10^6 lies in
// band(nearest(v)); otherwise the watcher would latch forever, chasing its own rounding.
import { band, inBand, type Band } from './band.ts';
import { clip, nearest, parseLadder, pointAbove, PolicyError, DEFAULT_LADDER, type Ladder } from './ladder.ts';
import { ceil3, formatRatio, parseDecimal, ratioGte, type Ratio } from './ratio.ts';

export const ANNOTATIONS = {
  ladder: 'kube-latch.io/ladder',
  tolerance: 'kube-latch.io/tolerance',
  min: 'kube-latch.io/min-replicas',
  max: 'kube-latch.io/max-replicas',
  declared: 'kube-latch.io/declared',
  latched: 'kube-latch.io/latched',
  source: 'kube-latch.io/source',
  rollout: 'kube-latch.io/rollout',
} as const;

export const ENABLED_LABEL = 'kube-latch.io/enabled';
/** The field manager of the watcher's marker patch: the one writer that may set or remove `latched` (DESIGN §3). */
export const WATCHER_FIELD_MANAGER = 'kube-latch-watcher';
export const DEFAULT_TOLERANCE = '2';
const VALIDITY_LIMIT = 1_000_000;

/**
 * DESIGN §3: a policy annotation longer than this is invalid, checked before any parsing, so that a
 * 200,000-character value costs a length comparison and nothing else.
 */
export const POLICY_VALUE_MAX_LENGTH = 32;
/** DESIGN §3: a bound is a non-negative integer of at most this many digits. */
export const BOUND_MAX_DIGITS = 10;

export interface Policy {
  readonly ladder: Ladder;
  readonly tolerance: Ratio;
  readonly min: number;
  /** Infinity when unbounded */
  readonly max: number;
}

/** The configuration-level defaults that a workload's annotations override. */
export interface PolicyDefaults {
  ladder?: string;
  tolerance?: string;
  min?: number;
  max?: number;
}

export function clamp(p: Pick<Policy, 'min' | 'max'>, x: number): number {
  return Math.min(Math.max(x, p.min), p.max);
}

export function latch(p: Policy, v: number): number {
  return clamp(p, nearest(p.ladder, v));
}

export function policyBand(p: Policy, d: number): Band {
  return band(d, p.tolerance);
}



interface Worst {
  n: bigint;
  d: bigint;
}
const worstCache = new Map<string, Worst>();

/** max over v in 1..10^6 of max(v/nearest(v), nearest(v)/v), as an exact fraction. */
function worstRatio(l: Ladder): Worst {
  const hit = worstCache.get(l.name);
  if (hit) return hit;
  let wn = 1;
  let wd = 1;
  const consider = (n: number, d: number) => {
    if (n * wd > wn * d) [wn, wd] = [n, d];
  };
  // Walk the gaps (a, b) between consecutive points. In a gap, v rounds down while v·v < a·b, so
  // the worst down-rounded v is the largest such, and the worst up-rounded is the next one.
  let a = 1;
  while (a < VALIDITY_LIMIT) {
    const b = pointAbove(l, a + 1);
    if (b - a >= 2) {
      const down = isqrt(a * b - 1); // largest v with v·v < a·b
      const vDown = Math.min(down, VALIDITY_LIMIT);
      if (vDown > a) consider(vDown, a);
      const vUp = down + 1;
      if (vUp < b && vUp <= VALIDITY_LIMIT) consider(b, vUp);
    }
    a = b;
  }
  const w = { n: BigInt(wn), d: BigInt(wd) };
  if (worstCache.size > 256) worstCache.clear(); // step:N is user-chosen; keep the cache bounded
  worstCache.set(l.name, w);
  return w;
}

function isqrt(x: number): number {
  let r = Math.floor(Math.sqrt(x));
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

/** The smallest tolerance a ladder needs, rounded up at the third decimal ("1.582" for 1-2-5). */
export function minTolerance(l: Ladder): string {
  const w = worstRatio(l);
  return ceil3(w.n, w.d);
}

export function toleranceValid(l: Ladder, r: Ratio): boolean {
  const w = worstRatio(l);
  return ratioGte(r, { p: w.n, q: w.d });
}

/** Parses a tolerance: a plain decimal ≥ 1. Throws PolicyError naming what is expected. */
export function parseTolerance(text: string): Ratio {
  checkLength(text, 'tolerance');
  const r = parseDecimal(text.trim());
  if (!r) throw new PolicyError(`tolerance "${clip(text)}" is not a plain decimal ≥ 1`);
  if (r.p < r.q) throw new PolicyError(`tolerance ${clip(formatRatio(r))} is below 1`);
  return r;
}

/** A bound (already within the length cap): only digits, at most BOUND_MAX_DIGITS of them, blanks around allowed. No regex. */
function parseBound(text: string, what: string): number {
  const s = text.trim();
  let digits = s.length > 0;
  for (let i = 0; i < s.length && digits; i++) digits = s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;
  if (!digits) throw new PolicyError(`${what} "${clip(text)}" is not a non-negative integer`);
  if (s.length > BOUND_MAX_DIGITS) throw new PolicyError(`${what} "${clip(s)}" has ${s.length} digits; expected at most ${BOUND_MAX_DIGITS}`);
  return Number(s);
}

/** The length cap of DESIGN §3, applied before a value is trimmed, scanned or matched. */
function checkLength(text: string, what: string): void {
  if (text.length > POLICY_VALUE_MAX_LENGTH) {
    throw new PolicyError(`${what} is ${text.length} characters long; expected at most ${POLICY_VALUE_MAX_LENGTH}`);
  }
}

export type PolicyResult =
  | { ok: true; policy: Policy }
  | { ok: false; annotation: string; message: string };

/**
 * Resolves a workload's policy: annotations override `defaults`; `fallbackBounds` (an HPA's min/max)
 * apply only when the workload carries neither bound annotation. Never throws.
 */
export function resolvePolicy(
  annotations: Readonly<Record<string, string>> | undefined,
  defaults: PolicyDefaults = {},
  fallbackBounds?: { min?: number; max?: number },
): PolicyResult {
  const ann = annotations ?? {};
  const ladderText = ann[ANNOTATIONS.ladder];
  const tolText = ann[ANNOTATIONS.tolerance];
  const minText = ann[ANNOTATIONS.min];
  const maxText = ann[ANNOTATIONS.max];
  const fail = (annotation: string, err: unknown): PolicyResult => ({
    ok: false,
    annotation,
    message: (err as Error).message,
  });

  // Every length first, so that no value is parsed while another one is over the cap.
  const texts: Array<[annotation: string, text: string | undefined, what: string]> = [
    [ANNOTATIONS.ladder, ladderText ?? defaults.ladder, 'ladder'],
    [ANNOTATIONS.tolerance, tolText ?? defaults.tolerance, 'tolerance'],
    [ANNOTATIONS.min, minText, 'min-replicas'],
    [ANNOTATIONS.max, maxText, 'max-replicas'],
  ];
  for (const [annotation, text, what] of texts) {
    try {
      if (text !== undefined) checkLength(text, what);
    } catch (e) {
      return fail(annotation, e);
    }
  }

  let ladder: Ladder;
  try {
    ladder = parseLadder(ladderText ?? defaults.ladder ?? DEFAULT_LADDER);
  } catch (e) {
    return fail(ANNOTATIONS.ladder, e);
  }
  let tolerance: Ratio;
  try {
    tolerance = parseTolerance(tolText ?? defaults.tolerance ?? DEFAULT_TOLERANCE);
  } catch (e) {
    return fail(ANNOTATIONS.tolerance, e);
  }
  if (!toleranceValid(ladder, tolerance)) {
    const need = minTolerance(ladder);
    const annotation = tolText !== undefined || ladderText === undefined ? ANNOTATIONS.tolerance : ANNOTATIONS.ladder;
    return fail(
      annotation,
      new PolicyError(`tolerance ${clip(formatRatio(tolerance))} is below ${need}, the minimum for ladder ${clip(ladder.name)}`),
    );
  }
  const useFallback = minText === undefined && maxText === undefined && fallbackBounds !== undefined;
  let min = useFallback ? (fallbackBounds.min ?? defaults.min ?? 0) : (defaults.min ?? 0);
  let max = useFallback ? (fallbackBounds.max ?? defaults.max ?? Infinity) : (defaults.max ?? Infinity);
  try {
    if (minText !== undefined) min = parseBound(minText, 'min-replicas');
  } catch (e) {
    return fail(ANNOTATIONS.min, e);
  }
  try {
    if (maxText !== undefined) max = parseBound(maxText, 'max-replicas');
  } catch (e) {
    return fail(ANNOTATIONS.max, e);
  }
  if (min > max) {
    return fail(minText !== undefined ? ANNOTATIONS.min : ANNOTATIONS.max, new PolicyError(`min-replicas ${min} exceeds max-replicas ${max}`));
  }
  return { ok: true, policy: { ladder, tolerance, min, max } };
}

/** Parses a policy given on the command line; throws PolicyError (the CLI exits 2). */
export function policyFromFlags(d: PolicyDefaults): Policy {
  const r = resolvePolicy(undefined, d);
  if (!r.ok) throw new PolicyError(r.message);
  return r.policy;
}

export function describePolicy(p: Policy): string {
  const bounds = p.min > 0 || p.max !== Infinity ? ` min ${p.min} max ${p.max === Infinity ? '∞' : p.max}` : '';
  return `ladder ${p.ladder.name} tolerance ${formatRatio(p.tolerance)}${bounds}`;
}
