// Exact decimal ratios: a tolerance such as 1.6 is the fraction 16/10, so bands never drift with floats.

export interface Ratio {
  /** numerator */
  readonly p: bigint;
  /** denominator, a power of ten */
  readonly q: bigint;
}

const PLAIN_DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** Parses a plain decimal (`2`, `1.5`, `2.50`); undefined when it is not one. */
export function parseDecimal(text: string): Ratio | undefined {
  const m = PLAIN_DECIMAL.exec(text);
  if (!m) return undefined;
  const frac = m[2] ?? '';
  return { p: BigInt(m[1]! + frac), q: 10n ** BigInt(frac.length) };
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
  return `${whole}.${rest.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}
