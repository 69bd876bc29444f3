// Just enough PromQL and Prometheus text exposition for the chart's tests: which metric names an
// expression selects, and which families a /metrics body holds.

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names an expression selects (functions, keywords, label names and Grafana variables left out). */
export function metricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' '); // Grafana variables outside matchers
  // grouping and matching clauses hold label names: by (rule), on (instance), group_left (x)
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = m[0];
    const rest = s.slice(m.index! + name.length);
    if (/^\s*\(/.test(rest)) continue; // a function call
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (/^\d/.test(name)) continue;
    // a number's exponent or a duration unit glued to digits (5m, 1e3)
    if (m.index! > 0 && /[0-9.]/.test(s[m.index! - 1]!)) continue;
    out.add(name);
  }
  return [...out];
}

export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

/** Families of a text exposition (several bodies may be concatenated), by name. */
export function parseExposition(text: string): Map<string, Family> {
  const fams = new Map<string, Family>();
  const byType = (name: string): Family | undefined => {
    if (fams.has(name)) return fams.get(name);
    for (const suffix of ['_bucket', '_sum', '_count']) {
      if (name.endsWith(suffix)) {
        const f = fams.get(name.slice(0, -suffix.length));
        if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
      }
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (t) {
      if (!fams.has(t[1]!)) fams.set(t[1]!, { name: t[1]!, type: t[2]!, samples: [] });
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const f = byType(m[1]!) ?? { name: m[1]!, type: 'untyped', samples: [] };
    if (!fams.has(f.name)) fams.set(f.name, f);
    f.samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return fams;
}
