// The watcher's seams: what it observes in Kubernetes, and the small interface it needs from git.
// src/git implements GitState; the engine is tested against an in-memory fake of it.
import type { Band } from '../latch/index.ts';

/** A workload as git names it: `prod/Deployment/web`. */
export interface WorkloadRef {
  readonly namespace: string;
  /** Kubernetes kind, e.g. `Deployment`, `StatefulSet`, `Rollout` */
  readonly kind: string;
  readonly name: string;
}

export function refKey(r: WorkloadRef): string {
  return `${r.namespace}/${r.kind}/${r.name}`;
}

/** What the engine needs from a live workload object. */
export interface WorkloadObservation {
  readonly ref: WorkloadRef;
  /** e.g. `apps/v1`; also matches an HPA's scaleTargetRef */
  readonly apiVersion: string;
  readonly uid?: string;
  /** live spec.replicas; a missing field counts as 1, as the apiserver defaults it */
  readonly replicas: number;
  readonly annotations: Readonly<Record<string, string>>;
}

/** An HPA, reduced to what bounds a latch. */
export interface HpaObservation {
  readonly namespace: string;
  readonly name: string;
  readonly target: { readonly apiVersion: string; readonly kind: string; readonly name: string };
  /** spec.minReplicas, default 1 */
  readonly min: number;
  readonly max: number;
  /** why it scaled, for a latch commit's body: "hpa web: cpu 92% / target 70%, desired 48" (hpaReason) */
  readonly reason?: string;
}

/** Where git declares a workload's replicas. */
export interface Located {
  readonly found: true;
  /** the replicas value in git; null when the matched document has no spec.replicas (counts as 1) */
  readonly declared: number | null;
  /** repo-relative path */
  readonly file: string;
  /** 1-based line of the replicas scalar (or of `spec:` when it must be inserted) */
  readonly line?: number;
  readonly via: 'marker' | 'source' | 'discovery';
}

export interface Unlocated {
  readonly found: false;
  /** none: nothing matched; ambiguous: several places matched */
  readonly reason: 'none' | 'ambiguous';
  /** the matching places (`path:line`), empty when none */
  readonly candidates: readonly string[];
  /** optional detail, e.g. "kube-latch.io/source names a missing file deploy/web.yaml" */
  readonly detail?: string;
}

export type Lookup = Located | Unlocated;

/** One latch to write: set the workload's replicas in git to `to`. */
export interface DueLatch {
  readonly ref: WorkloadRef;
  /** live v when the latch fell due */
  readonly live: number;
  /** git's value before (null in git counts as 1 here) */
  readonly from: number;
  /** band(from): the old band, for the commit body */
  readonly band: Band;
  /** the new latch point */
  readonly to: number;
  readonly direction: 'up' | 'down';
  /** ms since the epoch */
  readonly dueAt: number;
  /** the location lookup() returned, so the write edits that line */
  readonly location: Located;
  /** the workload's HPA status when the latch fell due (HpaObservation.reason), for the commit body */
  readonly reason?: string;
}

export interface WriteOptions {
  /**
   * Called immediately before every push (and before opening or updating a PR), including retries
   * after a non-fast-forward. When it returns false the write must stop without pushing and resolve
   * `{ ok: false, notLeader: true }`.
   */
  mayPush(): boolean;
}

/** A due latch that a write did not make, and why. */
export interface RefusedLatch {
  readonly latch: DueLatch;
  /** stale: git holds another value than the latch's `from`; ambiguous/unlocated: the location changed; error: the edit was refused */
  readonly outcome: 'stale' | 'rejected' | 'ambiguous' | 'unlocated' | 'error';
  /** one line naming file:line where known */
  readonly reason: string;
  /** the places that matched (`file:line`), for ambiguous and unlocated */
  readonly candidates: readonly string[];
}

export type WriteResult =
  | {
      readonly ok: true;
      /** latches whose edit is now on the remote */
      readonly written: readonly DueLatch[];
      /** latches whose value the remote (pr mode: the open proposal) already held: no edit, no commit */
      readonly unchanged: readonly DueLatch[];
      /** every other latch of the batch: not written, with the reason */
      readonly refused?: readonly RefusedLatch[];
      /** commit id, or PR URL in pr mode; absent when nothing was committed */
      readonly revision?: string;
      /** things to say on workloads as Events, e.g. a latch not proposed because a human closed its PR */
      readonly notices?: readonly WriteNotice[];
      /** pr mode: values of a PR closed unmerged (a human "no"); a marker showing one is removed */
      readonly withdrawn?: readonly { readonly ref: WorkloadRef; readonly to: number }[];
    }
  | { readonly ok: false; readonly notLeader: true }
  | { readonly ok: false; readonly notLeader?: false; readonly error: string };

/** An Event the write asks for on one workload (pr mode: a rejected latch, a value a reviewer set on the branch). */
export interface WriteNotice {
  readonly ref: WorkloadRef;
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface GitState {
  /** Fetch the remote and reindex what changed. Rejects when the remote is unreachable. */
  refresh(): Promise<void>;
  /**
   * Where git declares this workload's replicas, from the current index (no I/O). `source` is the
   * workload's kube-latch.io/source annotation, if any.
   */
  lookup(w: WorkloadRef & { readonly source?: string }): Lookup;
  /**
   * One commit (push mode) or one PR update (pr mode) for the whole batch, with race handling
   * (non-fast-forward → fetch, reset, redo, retry). Never commits a value already in git. After it
   * resolves ok, lookup() reflects the written values. Never rejects: failures are a result.
   */
  write(latches: readonly DueLatch[], opts: WriteOptions): Promise<WriteResult>;
  /**
   * The newest commit of the tracked branch that touched `file`, when kube-latch wrote it: the replicas
   * values its trailers propose; [] when someone else wrote it. Lets a restarted watcher mark its own
   * latch that git holds unmarked, and never a human's edit. Cheap to call again: cached per file and tip.
   */
  ownLatches?(file: string): Promise<readonly { readonly ref: WorkloadRef; readonly to: number }[]>;
  /**
   * pr mode: the values of the cluster's PR when its last PR was closed unmerged (none while one is
   * open), but not those the base now holds. Asks the provider: call it on the refresh cadence.
   */
  withdrawn?(): Promise<readonly { readonly ref: WorkloadRef; readonly to: number }[]>;
}

/** Leadership as the engine sees it. */
export interface Leadership {
  /** true only while this replica holds the lease and renewed it within the renew deadline */
  isLeader(): boolean;
  onChange(cb: (leader: boolean) => void): void;
}

/** Something that can put a Kubernetes Event on a workload. Never throws; de-duplicates repeats. */
export interface EventSink {
  record(target: EventTarget, ev: { type: 'Normal' | 'Warning'; reason: string; message: string }): void;
}

export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/**
 * Sets `kube-latch.io/latched: "L"` on a workload after its latch point L was pushed (DESIGN §4), so that
 * the webhook recognises the next apply of L as git catching up. Never throws: a failed mark is logged,
 * and the apply then meets the ordinary rules.
 */
export interface LatchMarker {
  mark(target: EventTarget, latchPoint: number): Promise<void>;
  /** Removes the marker (its proposal was closed unmerged). Never throws either. */
  unmark(target: EventTarget): Promise<void>;
}
