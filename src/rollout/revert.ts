// Restoring a failed rollout's pod template from git history (pure: text in, text or changes out).
//
// Target: the newest commit of the workload's file whose `kube-latch.io/rollout` annotation is
// `complete` and whose `spec.template` differs from the failing one; when no commit records `complete`
// (milestones proposed in PRs and not merged yet, or the feature just enabled), the newest commit whose
// template differs, i.e. the template before the change that failed.
//
// Restore: surgical, inside `spec.template` only. Every difference must be a string or number that
// changes value at a path both templates have (an image tag, an env value, a request, a nodeSelector
// value); each becomes one scalar edit, and the edited text must parse back to exactly the target
// template. Anything else (a container, key or list item added or removed, a boolean, a type change, an
// alias in the way) is `structural`: no PR is opened, and the Event names the commit to restore by hand.
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { setScalar, EditError, type ScalarValue } from '../git/edit.ts';
import type { PathKey } from '../git/types.ts';
import { formatImages, ROLLOUT_ANNOTATION } from './format.ts';
import type { ReplicaSetSummary, RolloutState } from './milestone.ts';

export const TEMPLATE_PATH: readonly PathKey[] = ['spec', 'template'];

export interface WorkloadName {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
}

export interface WorkloadDocument {
  readonly docIndex: number;
  /** the document as plain data */
  readonly data: Record<string, unknown>;
}

/** Parses every document of a file; undefined when it does not parse. */
export function parseDocuments(text: string): unknown[] | undefined {
  const docs = parseAllDocuments(text);
  if (docs.some((d) => d.errors.length > 0)) return undefined;
  return docs.map((d) => d.toJS({ maxAliasCount: 1000 }) as unknown);
}

/**
 * The one document of `text` that declares the workload: kind (case-insensitive) and metadata.name
 * match, and metadata.namespace matches when the document sets one. Undefined for none or several.
 */
export function findWorkloadDocument(text: string, w: WorkloadName): WorkloadDocument | undefined {
  const docs = parseDocuments(text);
  if (!docs) return undefined;
  const hits: WorkloadDocument[] = [];
  docs.forEach((data, docIndex) => {
    if (!isMap(data)) return;
    const meta = data['metadata'];
    if (typeof data['kind'] !== 'string' || data['kind'].toLowerCase() !== w.kind.toLowerCase() || !isMap(meta)) return;
    if (meta['name'] !== w.name) return;
    if (meta['namespace'] !== undefined && meta['namespace'] !== null && meta['namespace'] !== w.namespace) return;
    hits.push({ docIndex, data });
  });
  return hits.length === 1 ? hits[0] : undefined;
}

/** The document at `docIndex` as data, undefined when missing or not a map. */
export function documentAt(text: string, docIndex: number): Record<string, unknown> | undefined {
  const d = parseDocuments(text)?.[docIndex];
  return isMap(d) ? d : undefined;
}

export function templateOf(doc: Record<string, unknown> | undefined): unknown {
  const spec = doc?.['spec'];
  return isMap(spec) ? spec['template'] : undefined;
}

export function rolloutAnnotationOf(doc: Record<string, unknown> | undefined): string | undefined {
  const meta = doc?.['metadata'];
  const ann = isMap(meta) ? meta['annotations'] : undefined;
  const v = isMap(ann) ? ann[ROLLOUT_ANNOTATION] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** One version of the workload's document in the file's history, newest first. */
export interface HistoryEntry {
  readonly commit: string;
  /** the rollout annotation in that version, if any */
  readonly annotation: string | undefined;
  /** spec.template in that version */
  readonly template: unknown;
}

export interface RevertTarget {
  readonly commit: string;
  readonly template: unknown;
  /** complete: the annotation said complete; previous: the template before the failing change */
  readonly via: 'complete' | 'previous';
}

/** The version to restore (see the header), or undefined when history holds no other template. */
export function chooseRevertTarget(history: readonly HistoryEntry[], failing: unknown): RevertTarget | undefined {
  const differs = (e: HistoryEntry) => e.template !== undefined && !isDeepStrictEqual(e.template, failing);
  const complete = history.find((e) => e.annotation?.trim() === 'complete' && differs(e));
  if (complete) return { commit: complete.commit, template: complete.template, via: 'complete' };
  const previous = history.find(differs);
  return previous ? { commit: previous.commit, template: previous.template, via: 'previous' } : undefined;
}

export interface ScalarEdit {
  /** full path inside the document, starting with spec.template */
  readonly path: readonly PathKey[];
  readonly from: ScalarValue;
  readonly value: ScalarValue;
}

export type RestorePlan =
  | { readonly ok: true; readonly edits: readonly ScalarEdit[] }
  | { readonly ok: false; readonly reason: string };

/** The scalar edits that turn the `from` template into `to`, or why there is no such list. */
export function planTemplateRestore(from: unknown, to: unknown): RestorePlan {
  const edits: ScalarEdit[] = [];
  const problem = diff(from, to, [...TEMPLATE_PATH], edits);
  return problem ? { ok: false, reason: problem } : { ok: true, edits };
}

function diff(a: unknown, b: unknown, path: PathKey[], out: ScalarEdit[]): string | undefined {
  if (isDeepStrictEqual(a, b)) return undefined;
  const at = label(path);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${at} has ${a.length} items, the restored version ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const p = diff(a[i], b[i], [...path, i], out);
      if (p) return p;
    }
    return undefined;
  }
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    const kb = new Set(Object.keys(b));
    const added = ka.find((k) => !kb.has(k));
    if (added !== undefined) return `${label([...path, added])} would have to be removed`;
    const missing = [...kb].find((k) => !(k in a));
    if (missing !== undefined) return `${label([...path, missing])} would have to be added`;
    for (const k of ka) {
      const p = diff(a[k], b[k], [...path, k], out);
      if (p) return p;
    }
    return undefined;
  }
  const scalar = (v: unknown): v is ScalarValue => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
  if (scalar(a) && scalar(b) && typeof a === typeof b) {
    out.push({ path, from: a, value: b });
    return undefined;
  }
  return `${at} changes from ${brief(a)} to ${brief(b)}, which is not a string or number edit`;
}

/**
 * Applies the edits to document `docIndex` of `text` and checks that its template is now exactly
 * `target`; the new text, or why not (an edit refused, or the result differs).
 */
export function applyTemplateRestore(
  text: string,
  docIndex: number,
  edits: readonly ScalarEdit[],
  target: unknown,
): { ok: true; text: string } | { ok: false; reason: string } {
  let out = text;
  for (const e of edits) {
    try {
      out = setScalar(out, docIndex, e.path, e.value);
    } catch (err) {
      if (err instanceof EditError) return { ok: false, reason: `${label(e.path)}: ${err.message}` };
      throw err;
    }
  }
  // Read back: the template is the target, and nothing else of the file changed (an edit inside an
  // anchored node would also change its aliases).
  const before = parseDocuments(text);
  const after = parseDocuments(out);
  if (!before || !after || before.length !== after.length) return { ok: false, reason: 'the edited file does not read back' };
  const doc = after[docIndex];
  if (!isMap(doc) || !isMap(doc['spec']) || !isDeepStrictEqual(doc['spec']['template'], target)) {
    return { ok: false, reason: 'the edited template does not read back as the restored one' };
  }
  const rest = { ...doc, spec: { ...doc['spec'], template: templateOf(before[docIndex] as Record<string, unknown>) } };
  if (!isDeepStrictEqual(rest, before[docIndex]) || after.some((d, i) => i !== docIndex && !isDeepStrictEqual(d, before[i]))) {
    return { ok: false, reason: 'restoring the template would change other parts of the file (anchors and aliases)' };
  }
  return { ok: true, text: out };
}

export interface RevertPrInput {
  readonly workload: string;
  readonly cluster: string;
  readonly file: string;
  readonly target: RevertTarget;
  readonly edits: readonly ScalarEdit[];
  readonly state: RolloutState;
  readonly progressDeadlineSeconds?: number | undefined;
}

export function revertTitle(i: Pick<RevertPrInput, 'workload' | 'target' | 'state'>): string {
  return `kube-latch: revert ${i.workload} to the pod template of ${i.target.commit.slice(0, 12)} (rollout revision ${i.state.revision} failed)`;
}

/** Markdown: what failed (condition message, each ReplicaSet's counts), what is restored from where. */
export function revertBody(i: RevertPrInput): string {
  const s = i.state;
  const from = i.target.via === 'complete' ? 'the last commit in which its rollout was `complete`' : 'the commit before the template change that failed (no commit records `complete`)';
  const rows = s.replicaSets.map((rs) => `| ${md(rs.name)}${rs.isNew ? ' (new)' : ''} | ${rs.revision ?? ''} | ${md(formatImages(rs.images))} | ${rs.desired} | ${rs.current} | ${rs.ready} | ${rs.available} |`);
  const edits = i.edits.map((e) => `| \`${md(label(e.path))}\` | \`${md(String(e.from))}\` | \`${md(String(e.value))}\` |`);
  return [
    `The rollout of \`${i.workload}\` in cluster \`${i.cluster}\` failed: revision ${s.revision}` +
      ` (${md(formatImages(s.images))}) did not progress within ${i.progressDeadlineSeconds ?? '?'} s (ProgressDeadlineExceeded).`,
    '',
    `> ${md(s.message ?? '(no condition message)')}`,
    '',
    `Desired replicas: ${s.desired}. ReplicaSets:`,
    '',
    '| ReplicaSet | revision | images | desired | current | ready | available |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `This PR restores the pod template (\`spec.template\`) in \`${md(i.file)}\` from ${i.target.commit} — ${from}.` +
      ' Only these values change; every other byte of the file stays as it is:',
    '',
    '| field | now (failing) | restored |',
    '|---|---|---|',
    ...edits,
    '',
    'Merging it rolls the Deployment back through your usual GitOps apply. kube-latch opens this PR once per failed revision and never merges it.',
    '',
  ].join('\n');
}

function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function label(path: readonly PathKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

function brief(v: unknown): string {
  if (v === undefined) return 'absent';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}
