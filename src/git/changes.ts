// What the git flows write: replicas latches and single fields (e.g. the rollout annotation), and
// what became of each one. applyChanges() locates each change in the index, edits the files in the
// work tree surgically, and reports per change; it is idempotent ("set to L").
import { lstatSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Band } from '../latch/index.ts';
import { EditError, getScalar, setScalar, type ScalarValue } from './edit.ts';
import type { RepoIndex } from './repo-index.ts';
import { refKey, type Located, type PathKey, type WorkloadRef } from './types.ts';

/** Set a workload's replicas in git to `value` (a latch). */
export interface ReplicasChange {
  readonly type: 'replicas';
  readonly ref: WorkloadRef;
  readonly value: number;
  /** live replicas when the latch fell due, for the commit body */
  readonly live?: number | undefined;
  /** band(declared), the band the live count left, for the commit body */
  readonly band?: Band | undefined;
  /**
   * The declared value the latch was computed from. When git now holds another value (someone changed
   * it meanwhile) the change is `stale` and not written: the caller recomputes against the new value.
   */
  readonly declared?: number | undefined;
  /** why it latched, from the workload's HPA status at that moment, for the commit body */
  readonly reason?: string | undefined;
}

/** Set one scalar of the workload's own document, e.g. ['metadata', 'annotations', 'kube-latch.io/rollout']. */
export interface FieldChange {
  readonly type: 'field';
  readonly ref: WorkloadRef;
  readonly path: readonly PathKey[];
  readonly value: ScalarValue;
}

export type Change = ReplicasChange | FieldChange;

export type OutcomeStatus =
  /** the file now holds the value (in the commit being made) */
  | 'written'
  /** git already held the value: nothing to commit */
  | 'already'
  /** PR mode: the proposal on the branch already holds the value: no new write (DESIGN §4) */
  | 'proposed'
  /** git holds another value than `declared` (or, on a PR branch, someone else set another value there): not written */
  | 'stale'
  /** PR mode: a human rejected this very change by closing a PR that proposed it; not proposed again */
  | 'rejected'
  | 'ambiguous'
  | 'unlocated'
  /** the edit could not be made surgically (alias, block scalar, file no longer parses) */
  | 'error';

export interface ChangeOutcome {
  readonly change: Change;
  readonly status: OutcomeStatus;
  readonly file?: string;
  readonly line?: number;
  /** the value git held before */
  readonly from?: ScalarValue;
  readonly candidates?: readonly string[];
  readonly reason?: string;
}

export function changeKey(c: Change): string {
  return c.type === 'replicas' ? `${refKey(c.ref)}#replicas` : `${refKey(c.ref)}#${c.path.join('\u0000')}`;
}

/** Later changes to the same target replace earlier ones. */
export function dedupe(changes: readonly Change[]): Change[] {
  const m = new Map<string, Change>();
  for (const c of changes) {
    m.delete(changeKey(c));
    m.set(changeKey(c), c);
  }
  return [...m.values()];
}

interface PlannedEdit {
  readonly change: Change;
  readonly docIndex: number;
  readonly path: readonly PathKey[];
  readonly line: number;
  readonly from: ScalarValue | undefined;
}

export interface Applied {
  /** one per change after dedupe(), in order */
  readonly outcomes: ChangeOutcome[];
  /** repo-relative files whose content changed */
  readonly files: string[];
}

export async function applyChanges(workTree: string, index: RepoIndex, changes: readonly Change[]): Promise<Applied> {
  const outcomes = new Map<Change, ChangeOutcome>();
  const byFile = new Map<string, PlannedEdit[]>();
  const plan = (file: string, e: PlannedEdit) => {
    const list = byFile.get(file) ?? [];
    list.push(e);
    byFile.set(file, list);
  };

  const unique = dedupe(changes);
  // Two workloads whose locations reach the same scalar would overwrite each other: both are ambiguous.
  const byScalar = new Map<string, Change[]>();
  const located = new Map<Change, Located>();
  for (const change of unique) {
    if (change.type !== 'replicas') continue;
    const loc = index.locate(change.ref);
    if (loc.state !== 'located') continue;
    located.set(change, loc);
    const k = `${loc.file}\0${loc.docIndex}\0${loc.path.join('\0')}`;
    byScalar.set(k, [...(byScalar.get(k) ?? []), change]);
  }
  for (const same of byScalar.values()) {
    if (same.length < 2) continue;
    const loc = located.get(same[0]!)!;
    const at = `${loc.file}:${loc.line}`;
    for (const change of same) {
      outcomes.set(change, { change, status: 'ambiguous', file: loc.file, line: loc.line, candidates: [at], reason: `${same.map((c) => refKey(c.ref)).join(' and ')} resolve to the same replicas value at ${at}` });
    }
  }
  for (const change of unique) {
    if (outcomes.has(change)) continue;
    if (change.type === 'replicas') {
      const loc = located.get(change) ?? index.locate(change.ref);
      if (loc.state !== 'located') {
        outcomes.set(change, { change, status: loc.state, candidates: loc.candidates, reason: loc.reason });
        continue;
      }
      const base = { change, file: loc.file, line: loc.line, from: loc.value };
      if (loc.value === change.value) outcomes.set(change, { ...base, status: 'already' });
      else if (change.declared !== undefined && loc.value !== change.declared) {
        outcomes.set(change, { ...base, status: 'stale', reason: `git holds ${loc.value} at ${loc.file}:${loc.line}, the latch was computed from ${change.declared}` });
      } else plan(loc.file, { change, docIndex: loc.docIndex, path: loc.path, line: loc.line, from: loc.value });
    } else {
      const loc = index.locateDocument(change.ref);
      if (loc.state !== 'located') {
        outcomes.set(change, { change, status: loc.state, candidates: loc.candidates, reason: loc.reason });
        continue;
      }
      plan(loc.file, { change, docIndex: loc.docIndex, path: change.path, line: loc.line, from: undefined });
    }
  }

  const files: string[] = [];
  const root = realpathSync(workTree);
  let n = 0;
  for (const [file, edits] of byFile) {
    // Synchronous I/O on small local files, with a yield every 64 files (see repo-index.ts).
    if (++n % 64 === 0) await new Promise((r) => setImmediate(r));
    let text: string;
    try {
      text = readFileSync(insideTree(root, workTree, file), 'utf8');
    } catch (err) {
      for (const e of edits) outcomes.set(e.change, { change: e.change, status: 'error', file, line: e.line, reason: (err as Error).message });
      continue;
    }
    const before = text;
    for (const e of edits) {
      const value = e.change.value;
      try {
        const from = e.from ?? scalarOrUndefined(getScalar(text, e.docIndex, e.path));
        const next = setScalar(text, e.docIndex, e.path, value);
        const status = next === text ? 'already' : 'written';
        text = next;
        outcomes.set(e.change, { change: e.change, status, file, line: e.line, ...(from !== undefined ? { from } : {}) });
      } catch (err) {
        if (!(err instanceof EditError)) throw err;
        outcomes.set(e.change, { change: e.change, status: 'error', file, line: e.line, reason: `${file}: ${err.message}` });
      }
    }
    if (text !== before) {
      writeFileSync(join(workTree, file), text);
      files.push(file);
    }
  }
  if (files.length) await index.update(files);
  return { outcomes: unique.map((c) => outcomes.get(c)!), files };
}

function scalarOrUndefined(v: unknown): ScalarValue | undefined {
  return typeof v === 'string' || typeof v === 'number' ? v : undefined;
}

/** The absolute path of a repo file, refusing symlinks and anything that resolves outside the tree. */
function insideTree(root: string, workTree: string, rel: string): string {
  const abs = join(workTree, rel);
  if (!lstatSync(abs).isFile()) throw new Error(`${rel} is not a regular file`);
  if (!realpathSync(abs).startsWith(root + sep)) throw new Error(`${rel} resolves outside the repository`);
  return abs;
}
