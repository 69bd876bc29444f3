// Rollout milestones (DESIGN §4, experimental; docs/rollout.md). Public surface:
//
//   rolloutState(deployment, replicaSets) → {milestone, value, …} | undefined   pure
//   formatRollout / parseRollout                      the kube-latch.io/rollout value
//   rolloutWarning(object) → string | undefined       the webhook's CREATE warning (pure)
//   rolloutGit(repo, {mode…})                         the latcher's git over the watcher's GitRepo
//   startLatcher({kubeconfig, git, leadership, batchWindowMs, …})   informers + Latcher, leader-only writes
import type { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import { DEPLOYMENT, type ResourceKind } from '../kube/client.ts';
import { EventRecorder, kubeEventApi } from '../kube/events.ts';
import { kubeInformerFactory } from '../kube/informer.ts';
import { createLogger, type Logger } from '../log.ts';
import { systemClock, type Clock } from '../watcher/clock.ts';
import { ENABLED_SELECTOR, SupervisedInformer, type InformerFactory } from '../watcher/informers.ts';
import type { EventSink, Leadership } from '../watcher/types.ts';
import type { RolloutGit } from './git.ts';
import { Latcher, RolloutMetrics } from './latcher.ts';

export { ROLLOUT_ANNOTATION, MILESTONES, formatRollout, parseRollout, imagesOf, sameImages, type Milestone, type RolloutRecord, type ContainerImage } from './format.ts';
export { rolloutState, quantise, REVISION_ANNOTATION, type RolloutState, type DeploymentLike, type ReplicaSetLike } from './milestone.ts';
export { rolloutWarning, failedRecordFor } from './warning.ts';
export { rolloutGit, type RolloutGit, type RolloutGitMode } from './git.ts';
export { Latcher, RolloutMetrics, type WrittenMilestone, type ProposedRevert } from './latcher.ts';

export const REPLICASET: ResourceKind = { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets' };

export interface LatcherOptions {
  readonly kubeconfig: KubeConfig;
  readonly git: RolloutGit;
  /** the watcher's leader election (RunningWatcher.leader): only the leader writes and records Events */
  readonly leadership: Leadership;
  readonly batchWindowMs: number;
  /** where the rollout metrics are registered (the watcher's /metrics registry) */
  readonly registry?: Registry;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** seams for tests */
  readonly informerFactory?: InformerFactory;
  readonly events?: EventSink;
  /** informer watchdog: restart after this long without a sign of life (default 5 min) */
  readonly silentAfterMs?: number;
}

export interface RunningLatcher {
  readonly latcher: Latcher;
  readonly metrics: RolloutMetrics;
  readonly informers: readonly SupervisedInformer[];
  /** Stops the informers and waits for a write in progress. Call before the watcher's stop(). */
  stop(): Promise<void>;
}

/**
 * Starts the latcher: a supervised informer on opted-in Deployments (label kube-latch.io/enabled=true)
 * and one on all ReplicaSets (they carry the pod labels, not the Deployment's; only those a tracked
 * Deployment controls are kept). RBAC: list and watch on apps replicasets, on top of the watcher's.
 */
export async function startLatcher(o: LatcherOptions): Promise<RunningLatcher> {
  const log = o.logger ?? createLogger('rollout');
  const clock = o.clock ?? systemClock;
  const metrics = new RolloutMetrics(o.registry);
  const events =
    o.events ??
    new EventRecorder(kubeEventApi(o.kubeconfig), {
      component: 'kube-latch-watcher',
      instance: `${process.env['POD_NAME'] || hostname()}_${randomBytes(4).toString('hex')}`,
      clock,
      logger: log,
    });
  const latcher = new Latcher({ batchWindowMs: o.batchWindowMs }, { git: o.git, leadership: o.leadership, events, metrics, clock, logger: log });
  const factory = o.informerFactory ?? kubeInformerFactory(o.kubeconfig);
  const opts = { clock, logger: log, ...(o.silentAfterMs !== undefined ? { silentAfterMs: o.silentAfterMs } : {}) };
  const informers = [
    new SupervisedInformer({ resource: DEPLOYMENT, labelSelector: ENABLED_SELECTOR }, factory, {
      upsert: (obj) => latcher.upsertDeployment(obj),
      remove: (obj) => latcher.removeDeployment(obj),
    }, opts),
    new SupervisedInformer({ resource: REPLICASET }, factory, {
      upsert: (obj) => latcher.upsertReplicaSet(obj),
      remove: (obj) => latcher.removeReplicaSet(obj),
    }, opts),
  ];
  latcher.start();
  for (const i of informers) i.start();
  log.info({ mode: o.git.mode, batchWindowSeconds: o.batchWindowMs / 1000 }, 'rollout milestones: watching opted-in Deployments and their ReplicaSets');
  let stopping: Promise<void> | undefined;
  return {
    latcher,
    metrics,
    informers,
    stop() {
      stopping ??= (async () => {
        await Promise.all(informers.map((i) => i.stop()));
        await latcher.stop();
        if (events instanceof EventRecorder) await events.flush();
      })();
      return stopping;
    },
  };
}
