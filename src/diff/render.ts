// `kube-latch diff` output: a human table, and a JSON document with stable field names for CI and
// alerting (documented in docs/troubleshooting.md). Both pure.
import { formatBand } from '../latch/index.ts';
import { countStates, exitCodeFor, type DiffReport, type DiffRow, type DiffState } from './rows.ts';

/** Bumped only when a field is removed or changes meaning; new fields may appear without a bump. */
export const DIFF_JSON_VERSION = 'kube-latch.io/diff/v1';

export interface DiffMeta {
  /** the repo as given, with any password redacted */
  readonly repo: string;
  /** the branch cloned; null for a local work tree read as it is */
  readonly branch: string | null;
  /** the commit indexed; null for a directory that is not a git work tree */
  readonly revision: string | null;
  /** scan roots, repo-relative ('.' for the whole tree) */
  readonly paths: readonly string[];
  /** the apiserver URL */
  readonly cluster: string | null;
}

export interface DiffSummary {
  readonly workloads: number;
  readonly inBand: number;
  readonly latchDue: number;
  readonly outOfBand: number;
  readonly unlocated: number;
  readonly ambiguous: number;
  readonly invalidPolicy: number;
}

export interface DiffJson {
  readonly version: typeof DIFF_JSON_VERSION;
  readonly repo: { readonly url: string; readonly branch: string | null; readonly revision: string | null; readonly paths: readonly string[] };
  readonly cluster: string | null;
  readonly exitCode: 0 | 1;
  readonly summary: DiffSummary;
  readonly workloads: readonly DiffRow[];
  readonly brokenFiles: DiffReport['brokenFiles'];
  readonly markerProblems: DiffReport['markerProblems'];
  readonly notes: readonly string[];
}

export function summarize(rows: readonly DiffRow[]): DiffSummary {
  const c = countStates(rows);
  return {
    workloads: rows.length,
    inBand: c['in-band'],
    latchDue: c['latch-due'],
    outOfBand: c['out-of-band'],
    unlocated: c['unlocated'],
    ambiguous: c['ambiguous'],
    invalidPolicy: c['invalid-policy'],
  };
}

export function toJson(report: DiffReport, meta: DiffMeta): DiffJson {
  return {
    version: DIFF_JSON_VERSION,
    repo: { url: meta.repo, branch: meta.branch, revision: meta.revision, paths: [...meta.paths] },
    cluster: meta.cluster,
    exitCode: exitCodeFor(report.rows),
    summary: summarize(report.rows),
    // Rebuilt field by field so that the order (and the set) of keys is the documented one.
    workloads: report.rows.map((r) => ({
      namespace: r.namespace,
      kind: r.kind,
      name: r.name,
      state: r.state,
      latchTo: r.latchTo,
      direction: r.direction,
      declared: r.declared,
      declaredImplicit: r.declaredImplicit,
      live: r.live,
      band: r.band ? { lo: r.band.lo, hi: r.band.hi } : null,
      location: r.location ? { file: r.location.file, line: r.location.line, via: r.location.via } : null,
      candidates: [...r.candidates],
      policy: r.policy
        ? { ladder: r.policy.ladder, tolerance: r.policy.tolerance, min: r.policy.min, max: r.policy.max, boundsFrom: r.policy.boundsFrom }
        : null,
      policyError: r.policyError ? { annotation: r.policyError.annotation, message: r.policyError.message } : null,
      hpa: r.hpa,
      recorded: r.recorded,
      detail: r.detail,
    })),
    brokenFiles: report.brokenFiles.map((b) => ({ file: b.file, error: b.error })),
    markerProblems: report.markerProblems.map((m) => ({ file: m.file, line: m.line, message: m.message })),
    notes: [...report.notes],
  };
}

/** The STATE cell: `latch-due N` carries the value it would latch to. */
export function stateLabel(r: Pick<DiffRow, 'state' | 'latchTo'>): string {
  return r.state === 'latch-due' ? `latch-due ${r.latchTo}` : r.state;
}

const COLOURS: Record<DiffState, string> = {
  'in-band': '32', // green
  'latch-due': '33', // yellow
  'out-of-band': '31', // red
  unlocated: '31',
  ambiguous: '31',
  'invalid-policy': '31',
};

function paint(on: boolean, code: string, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** The human table, its notes and a one-line summary. `color` adds ANSI colour to states and headings. */
export function renderTable(report: DiffReport, meta: DiffMeta, opts: { color: boolean }): string {
  const out: string[] = [];
  const rev = meta.revision ? ` @ ${meta.revision.slice(0, 12)}` : meta.branch === null ? ' (work tree as it is)' : '';
  const branch = meta.branch ? ` branch ${meta.branch}` : '';
  out.push(`repo ${meta.repo}${branch}${rev}, paths ${meta.paths.join(', ')}${meta.cluster ? `; cluster ${meta.cluster}` : ''}`);

  if (report.rows.length === 0) {
    out.push('no opted-in workloads (label kube-latch.io/enabled=true)');
  } else {
    const header = ['WORKLOAD', 'DECLARED', 'LIVE', 'BAND', 'STATE', 'WHERE'];
    const cells = report.rows.map((r) => [
      `${r.namespace}/${r.kind}/${r.name}`,
      r.declared === null ? '-' : r.declaredImplicit ? `${r.declared} (unset)` : String(r.declared),
      String(r.live),
      r.band ? formatBand(r.band) : '-',
      stateLabel(r),
      where(r),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[], state?: DiffState) =>
      c
        .map((text, i) => {
          const padded = i === c.length - 1 ? text : text.padEnd(widths[i]!);
          return i === 4 && state ? paint(opts.color, COLOURS[state], padded) : padded;
        })
        .join('  ')
        .trimEnd();
    out.push(paint(opts.color, '1', line(header)));
    report.rows.forEach((r, i) => out.push(line(cells[i]!, r.state)));

    const notes = report.rows.filter((r) => r.detail !== null);
    if (notes.length) {
      out.push('', 'notes:');
      for (const r of notes) out.push(`  ${r.namespace}/${r.kind}/${r.name}: ${r.detail}`);
    }
  }

  if (report.brokenFiles.length) {
    out.push('', paint(opts.color, '33', 'files that do not parse (never edited; a workload they seem to declare shows as ambiguous or unlocated):'));
    for (const b of report.brokenFiles) out.push(`  ${b.file}: ${b.error}`);
  }
  if (report.markerProblems.length) {
    out.push('', paint(opts.color, '33', 'kube-latch markers that designate nothing:'));
    for (const m of report.markerProblems) out.push(`  ${m.file}:${m.line}: ${m.message}`);
  }
  if (report.notes.length) {
    out.push('');
    for (const n of report.notes) out.push(`note: ${n}`);
  }

  const s = summarize(report.rows);
  const parts = [
    `${s.inBand} in-band`,
    `${s.latchDue} latch-due`,
    `${s.outOfBand} out-of-band`,
    `${s.unlocated} unlocated`,
    `${s.ambiguous} ambiguous`,
    `${s.invalidPolicy} invalid-policy`,
  ];
  out.push('', `${s.workloads} workload${s.workloads === 1 ? '' : 's'}: ${parts.join(', ')}`);
  return out.join('\n') + '\n';
}

function where(r: DiffRow): string {
  if (r.location) return `${r.location.file}:${r.location.line}`;
  if (r.state === 'ambiguous' || r.candidates.length) return r.candidates.join(', ');
  return '(not located)';
}
