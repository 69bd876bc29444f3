// The few XML helpers the SVG writer needs: escaping and compact number formatting.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text for element content and double-quoted attribute values. */
export function esc(text: string): string {
  // Control characters other than tab/newline are not allowed in XML 1.0 at all: drop them.
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
}

/** A pixel coordinate with at most one decimal: 0.1 px is below what a screen shows, and it halves the size. */
export function px(x: number): string {
  const r = Math.round(x * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}

/** `name="value"` pairs; undefined values are left out. */
export function attrs(a: Record<string, string | number | undefined>): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out += ` ${k}="${esc(String(v))}"`;
  return out;
}
