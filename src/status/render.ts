// `kube-latch status` output: a table for people (colour only when asked), and one document for scripts
// (JSON, or the same as YAML). Pure.
import { stringify } from 'yaml';
import { formatBand } from '../latch/index.ts';
import { STATUS_STATES, stateText, statusExitCode, type StatusRow, type StatusState } from './rows.ts';

/** Bumped only when a field is removed or changes meaning. */
export const STATUS_VERSION = 'kube-latch.io/status/v1';

export interface StatusDocument {
  readonly version: typeof STATUS_VERSION;
  readonly exitCode: 0 | 1;
  readonly summary: Record<StatusState, number> & { readonly workloads: number };
  readonly workloads: readonly StatusRow[];
  readonly notes: readonly string[];
}

export function statusDocument(rows: readonly StatusRow[], notes: readonly string[] = []): StatusDocument {
  const counts = Object.fromEntries(STATUS_STATES.map((s) => [s, 0])) as Record<StatusState, number>;
  for (const r of rows) counts[r.state]++;
  return { version: STATUS_VERSION, exitCode: statusExitCode(rows), summary: { workloads: rows.length, ...counts }, workloads: rows, notes: [...notes] };
}

export function renderJson(doc: StatusDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

export function renderYaml(doc: StatusDocument): string {
  return stringify(doc, { lineWidth: 0 });
}

const COLOURS: Record<StatusState, string> = {
  'in-band': '32', // green
  'latch-due': '33', // yellow
  'pending-pr': '36', // cyan
  'out-of-band': '31', // red
  unlocated: '31',
  ambiguous: '31',
  'invalid-policy': '35', // magenta
};

const HEADER = ['NAMESPACE', 'KIND', 'NAME', 'LIVE', 'GIT', 'BAND', 'STATE', 'LOCATION', 'LAST LATCH'];

/** The table: one row per workload, then the detail of every row that has one, then notes. */
export function renderTable(rows: readonly StatusRow[], opts: { color: boolean; notes?: readonly string[] }): string {
  if (rows.length === 0) return `No opted-in workloads (label kube-latch.io/enabled=true).\n${notesText(opts.notes)}`;
  const cells = rows.map((r) => [
    r.namespace,
    r.kind,
    r.name,
    String(r.live),
    r.declared === null ? '-' : String(r.declared),
    r.band ? formatBand(r.band) : '-',
    stateText(r),
    r.location ?? (r.candidates.length ? r.candidates.join(',') : '-'),
    r.lastLatch ?? '-',
  ]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[], colour?: string) =>
    c
      .map((x, i) => {
        const padded = i === c.length - 1 ? x : x.padEnd(widths[i]!);
        return i === 6 && colour && opts.color ? `\x1b[${colour}m${padded}\x1b[0m` : padded;
      })
      .join('  ')
      .trimEnd();
  const head = opts.color ? `\x1b[1m${line(HEADER)}\x1b[0m` : line(HEADER);
  const body = cells.map((c, i) => line(c, COLOURS[rows[i]!.state]));
  const details = rows.filter((r) => r.detail).map((r) => `  ${r.namespace}/${r.kind}/${r.name}: ${r.detail}`);
  return [head, ...body, ...(details.length ? ['', ...details] : [])].join('\n') + '\n' + notesText(opts.notes);
}

function notesText(notes: readonly string[] | undefined): string {
  return notes && notes.length ? notes.map((n) => `note: ${n}\n`).join('') : '';
}
