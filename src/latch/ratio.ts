// Exact decimal ratios: a tolerance such as 1.6 is the fraction 16/10, so bands never drift with floats.

export interface Ratio {
  /** numerator */
  readonly p: bigint;
  /** denominator, a power of ten */
  readonly q: bigint;
}

/** The longest decimal parseDecimal reads: policy annotations are capped at 32 characters (DESIGN §3). */
export const DECIMAL_MAX_LENGTH = 32;

const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Parses a plain decimal (`2`, `1.5`, `2.50`); undefined when it is not one or is longer than
 * DECIMAL_MAX_LENGTH. One pass, no regex: the cost is bounded whatever the input.
 */
export function parseDecimal(text: string): Ratio | undefined {
  if (text.length === 0 || text.length > DECIMAL_MAX_LENGTH) return undefined;
  let dot = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) continue;
    if (c !== 46 || dot >= 0) return undefined; // 46 is '.'
    dot = i;
  }
  if (dot === 0 || dot === text.length - 1) return undefined;
  if (dot < 0) return { p: BigInt(text), q: 1n };
  const frac = text.length - dot - 1;
  return { p: BigInt(text.slice(0, dot) + text.slice(dot + 1)), q: 10n ** BigInt(frac) };
}

/** a/b ≥ c/d for positive denominators. */
export function ratioGte(a: Ratio, b: Ratio): boolean {
  return a.p * b.q >= b.p * a.q;
}

/** Renders n/d rounded up at the third decimal, e.g. 316227/200000 → "1.582". */
export function ceil3(n: bigint, d: bigint): string {
  const thousandths = (n * 1000n + d - 1n) / d;
  const whole = thousandths / 1000n;
  const frac = (thousandths % 1000n).toString().padStart(3, '0');
  return `${whole}.${frac}`;
}

/** Renders a ratio as its shortest decimal (`1.50` → `1.5`). */
export function formatRatio(r: Ratio): string {
  const whole = r.p / r.q;
  const rest = r.p % r.q;
  if (rest === 0n) return whole.toString();
  const digits = r.q.toString().length - 1;
  const frac = rest.toString().padStart(digits, '0');
  // Trailing zeros cut by a scan, not /0+$/ (which backtracks quadratically on "0…01").
  let end = frac.length;
  while (end > 0 && frac.charCodeAt(end - 1) === 48) end--;
  return `${whole}.${frac.slice(0, end)}`;
}
