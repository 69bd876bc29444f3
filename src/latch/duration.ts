// Durations as operators write them (`60`, `0.5`, `500ms`, `90s`, `5m`, `1h`, `30d`), bounded by DESIGN §4:
// at most 30 days, so that no value can become a timer that overflows (node fires a setTimeout over
// 2^31-1 ms at once) or a window nobody meant. Pure: the CLI flags and any duration annotation share it.

export const MAX_DURATION_SECONDS = 30 * 86_400;
/** The longest text read as a duration; longer is refused before it is scanned. */
const MAX_DURATION_TEXT = 32;

const UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400 };

export type DurationResult = { ok: true; seconds: number } | { ok: false; message: string };

/**
 * Parses a non-negative decimal with an optional unit (default seconds). `max` defaults to 30 days.
 * The message is a sentence fragment for "--flag …" or "annotation …": `must be at most 30 days …`.
 */
export function parseDuration(text: string, max = MAX_DURATION_SECONDS): DurationResult {
  const bad = { ok: false as const, message: `must be seconds or a duration such as 90s, 5m, 1h, 30d, got "${text.length > 20 ? text.slice(0, 20) + '…' : text}"` };
  if (text.length === 0 || text.length > MAX_DURATION_TEXT) return bad;
  // One scan: digits, at most one '.' with digits on both sides, then letters (the unit).
  let i = 0;
  let dot = -1;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) continue;
    if (c === 46 && dot < 0) {
      dot = i;
      continue;
    }
    break;
  }
  if (i === 0 || dot === 0 || dot === i - 1) return bad;
  const scale = UNITS[text.slice(i) || 's'];
  if (scale === undefined) return bad;
  const seconds = Number(text.slice(0, i)) * scale;
  if (!Number.isFinite(seconds)) return bad;
  if (seconds > max) return { ok: false, message: `must be at most ${describeMax(max)}, got "${text}"` };
  return { ok: true, seconds };
}

function describeMax(max: number): string {
  return max % 86_400 === 0 ? `${max / 86_400} days (${max} s)` : `${max} s`;
}
