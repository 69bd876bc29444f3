// Where a Deployment's rollout stands, from the Deployment and the ReplicaSets it owns (pure).
//
//   failed    Progressing condition with reason ProgressDeadlineExceeded
//   complete  Progressing condition with reason NewReplicaSetAvailable (status True)
//   started / 25% / 50% / 75%   a rollout in flight: the new ReplicaSet's available replicas (they
//             are updated by definition) over spec.replicas, quantised down to quarters; 100 % that the
//             controller has not yet declared complete stays 75 %
//
// Nothing is concluded (undefined) while the controller has not observed the current generation, while
// the new ReplicaSet is not known yet, or when no rollout is in flight and none just finished: a
// Deployment scaling up (one ReplicaSet, Progressing reason ReplicaSetUpdated) is not a rollout, and
// neither is the window of a Recreate rollout after the old pods are gone. Writing nothing is always
// safe; writing a wrong milestone is not.
import { formatRollout, imagesOf, type ContainerImage, type Milestone, type RolloutRecord } from './format.ts';

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** The parts of an apps/v1 Deployment this module reads. */
export interface DeploymentLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly generation?: number;
    readonly annotations?: Readonly<Record<string, string>> | null;
    readonly labels?: Readonly<Record<string, string>> | null;
  };
  readonly spec?: {
    readonly replicas?: number;
    readonly template?: unknown;
    readonly paused?: boolean;
    readonly progressDeadlineSeconds?: number;
  };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly replicas?: number;
    readonly updatedReplicas?: number;
    readonly readyReplicas?: number;
    readonly availableReplicas?: number;
    readonly conditions?: ReadonlyArray<{
      readonly type?: string;
      readonly status?: string;
      readonly reason?: string;
      readonly message?: string;
    }>;
  };
}

/** The parts of an apps/v1 ReplicaSet this module reads. */
export interface ReplicaSetLike {
  readonly metadata?: {
    readonly name?: string;
    readonly uid?: string;
    readonly annotations?: Readonly<Record<string, string>> | null;
    readonly ownerReferences?: ReadonlyArray<{ readonly uid?: string; readonly kind?: string; readonly controller?: boolean }> | null;
  };
  readonly spec?: { readonly replicas?: number; readonly template?: unknown };
  readonly status?: { readonly replicas?: number; readonly readyReplicas?: number; readonly availableReplicas?: number };
}

/** One ReplicaSet as the failure report shows it. */
export interface ReplicaSetSummary {
  readonly name: string;
  readonly revision: number | undefined;
  readonly images: readonly ContainerImage[];
  /** spec.replicas: what the controller wants of it now */
  readonly desired: number;
  /** status.replicas / readyReplicas / availableReplicas */
  readonly current: number;
  readonly ready: number;
  readonly available: number;
  readonly isNew: boolean;
}

export interface RolloutState {
  readonly milestone: Milestone;
  /** the annotation value for this state */
  readonly value: string;
  readonly record: RolloutRecord;
  /** the Deployment's revision (its new ReplicaSet's) */
  readonly revision: number;
  readonly images: readonly ContainerImage[];
  /** new ReplicaSet's available replicas and spec.replicas, when a ReplicaSet tells */
  readonly available?: number;
  readonly desired: number;
  /** the Progressing condition's reason and message */
  readonly reason?: string;
  readonly message?: string;
  /** owned ReplicaSets that hold or want pods (and the new one), newest revision first */
  readonly replicaSets: readonly ReplicaSetSummary[];
}

const int = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

export function revisionOf(annotations: Readonly<Record<string, string>> | null | undefined): number | undefined {
  const s = annotations?.[REVISION_ANNOTATION];
  if (s === undefined || !/^[0-9]{1,15}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 ? n : undefined;
}

/** Whether this ReplicaSet's controlling owner is the Deployment with this uid. */
export function ownedBy(rs: ReplicaSetLike, deploymentUid: string): boolean {
  return (rs.metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.kind === 'Deployment' && o.uid === deploymentUid);
}

/** Quarters of progress: 0 → started, 1 → 25%, 2 → 50%, 3 or more (not yet declared complete) → 75%. */
export function quantise(available: number, desired: number): Exclude<Milestone, 'complete' | 'failed'> {
  if (desired <= 0) return 'started';
  const q = Math.floor((Math.min(available, desired) * 4) / desired);
  return q <= 0 ? 'started' : q === 1 ? '25%' : q === 2 ? '50%' : '75%';
}

/**
 * The rollout state of a Deployment, or undefined when nothing can be concluded yet (see the header).
 * `replicaSets` may hold any ReplicaSets; only those the Deployment controls are used.
 */
export function rolloutState(d: DeploymentLike, replicaSets: readonly ReplicaSetLike[]): RolloutState | undefined {
  const generation = d.metadata?.generation;
  const observed = d.status?.observedGeneration;
  if (typeof generation !== 'number' || typeof observed !== 'number' || observed < generation) return undefined;
  const revision = revisionOf(d.metadata?.annotations);
  if (revision === undefined) return undefined;
  const uid = d.metadata?.uid;
  const owned = uid ? replicaSets.filter((rs) => ownedBy(rs, uid)) : [];
  const newRs = owned.find((rs) => revisionOf(rs.metadata?.annotations) === revision);

  const desired = int(d.spec?.replicas ?? 1);
  const images = imagesOf(d.spec?.template);
  const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing');
  const summaries = owned
    .map((rs) => summarise(rs, rs === newRs))
    .filter((s) => s.isNew || s.desired > 0 || s.current > 0)
    .sort((a, b) => (b.revision ?? 0) - (a.revision ?? 0));
  const base = {
    revision,
    images,
    desired,
    replicaSets: summaries,
    ...(newRs ? { available: int(newRs.status?.availableReplicas) } : {}),
    ...(progressing?.reason ? { reason: progressing.reason } : {}),
    ...(progressing?.message ? { message: progressing.message } : {}),
  };
  const make = (milestone: Milestone): RolloutState => {
    const record: RolloutRecord = milestone === 'complete' ? { milestone } : { milestone, revision, images };
    return { ...base, milestone, record, value: formatRollout(record) };
  };

  if (progressing?.reason === 'ProgressDeadlineExceeded') return make('failed');
  if (progressing?.reason === 'NewReplicaSetAvailable' && progressing.status === 'True') return make('complete');
  if (!newRs) return undefined;
  const available = int(newRs.status?.availableReplicas);
  const oldPods = owned.some((rs) => rs !== newRs && (int(rs.status?.replicas) > 0 || int(rs.spec?.replicas) > 0));
  if (!oldPods) {
    // No condition at all (a controller that does not set it): complete when the new ReplicaSet is.
    if (!progressing && available >= desired && int(d.status?.updatedReplicas) >= desired) return make('complete');
    return undefined;
  }
  return make(quantise(available, desired));
}

function summarise(rs: ReplicaSetLike, isNew: boolean): ReplicaSetSummary {
  return {
    name: rs.metadata?.name ?? '',
    revision: revisionOf(rs.metadata?.annotations),
    images: imagesOf(rs.spec?.template),
    desired: int(rs.spec?.replicas),
    current: int(rs.status?.replicas),
    ready: int(rs.status?.readyReplicas),
    available: int(rs.status?.availableReplicas),
    isNew,
  };
}
