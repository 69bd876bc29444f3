// The Kubernetes half of `kube-latch watcher`, assembled: discovery of workload kinds, leader election,
// the Event recorder, the engine and its informers. The CLI parses flags, opens git (src/git's
// openGitState), serves `metrics.registry` at /metrics and calls startWatcher(); SIGTERM → stop().
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { PolicyDefaults } from '../latch/index.ts';
import { kubeDiscovery, resolveWorkloadKinds, type KubeConfig, type ResourceKind } from '../kube/client.ts';
import { EventRecorder, kubeEventApi } from '../kube/events.ts';
import { kubeInformerFactory } from '../kube/informer.ts';
import { kubeLeaseStore } from '../kube/lease.ts';
import { createLogger, type Logger } from '../log.ts';
import { systemClock, type Clock } from './clock.ts';
import { Engine } from './engine.ts';
import { startInformers, type WatcherInformers } from './informers.ts';
import { LeaderElector } from './leader.ts';
import { kubeLatchMarker } from './marker.ts';
import { WatcherMetrics } from './metrics.ts';
import type { GitState } from './types.ts';

export { Engine, type EngineConfig, type WorkloadStatus } from './engine.ts';
export { LeaderElector, LEADER_DEFAULTS, type LeaderConfig } from './leader.ts';
export { WatcherMetrics } from './metrics.ts';
export { kubeLatchMarker, latchedPatch, WATCHER_FIELD_MANAGER } from './marker.ts';
export { observeLive } from './settle.ts';
export { systemClock, ManualClock, type Clock } from './clock.ts';
export * from './types.ts';

export interface WatcherOptions {
  readonly kubeconfig: KubeConfig;
  readonly git: GitState;
  readonly settleUpMs: number;
  readonly settleDownMs: number;
  readonly batchWindowMs: number;
  /** --ladder / --tolerance (and optional default bounds) */
  readonly defaults: PolicyDefaults;
  readonly lease: {
    readonly namespace: string;
    readonly name: string;
    /** default: $POD_NAME or the hostname, plus a random suffix */
    readonly identity?: string;
    readonly leaseDurationMs?: number;
    readonly renewDeadlineMs?: number;
    readonly retryPeriodMs?: number;
  };
  /** extra workload kinds, `group/version/Kind`, each needing spec.replicas and a scale subresource */
  readonly extraKinds?: readonly string[];
  readonly metrics?: WatcherMetrics;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** engine loops (defaults 15 s and 60 s) */
  readonly tickMs?: number;
  readonly refreshMs?: number;
  /** informer watchdog: restart after this long without a list, event or bookmark (default 5 min) */
  readonly silentAfterMs?: number;
  /** a repeated Event updates its count at most this often (default 5 min) */
  readonly eventRepeatIntervalMs?: number;
}

export interface RunningWatcher {
  readonly engine: Engine;
  readonly leader: LeaderElector;
  readonly informers: WatcherInformers;
  readonly metrics: WatcherMetrics;
  readonly kinds: readonly ResourceKind[];
  /** Stops informers, waits for a write in progress, releases the lease. */
  stop(): Promise<void>;
}

/** Thrown when a configured extra kind cannot be watched: the CLI exits 2 with the message. */
export class WatcherConfigError extends Error {
  override name = 'WatcherConfigError';
}

export async function startWatcher(o: WatcherOptions): Promise<RunningWatcher> {
  const log = o.logger ?? createLogger('watcher');
  const clock = o.clock ?? systemClock;
  const metrics = o.metrics ?? new WatcherMetrics();

  const { kinds, skipped } = await resolveWorkloadKinds(kubeDiscovery(o.kubeconfig), o.extraKinds ?? []);
  const bad = skipped.filter((s) => s.configured);
  if (bad.length > 0) throw new WatcherConfigError(`cannot watch ${bad.map((s) => `${s.kind} (${s.reason})`).join('; ')}`);
  for (const s of skipped) log.info({ kind: s.kind, reason: s.reason }, 'not watching this kind');
  log.info({ kinds: kinds.map((k) => k.kind) }, 'watching workload kinds');

  const identity = o.lease.identity ?? `${process.env['POD_NAME'] || hostname()}_${randomBytes(4).toString('hex')}`;
  const leader = new LeaderElector(kubeLeaseStore(o.kubeconfig, o.lease.namespace, o.lease.name), {
    identity,
    clock,
    logger: log,
    ...(o.lease.leaseDurationMs !== undefined ? { leaseDurationMs: o.lease.leaseDurationMs } : {}),
    ...(o.lease.renewDeadlineMs !== undefined ? { renewDeadlineMs: o.lease.renewDeadlineMs } : {}),
    ...(o.lease.retryPeriodMs !== undefined ? { retryPeriodMs: o.lease.retryPeriodMs } : {}),
  });
  const events = new EventRecorder(kubeEventApi(o.kubeconfig), {
    component: 'kube-latch-watcher',
    instance: identity,
    clock,
    logger: log,
    ...(o.eventRepeatIntervalMs !== undefined ? { repeatIntervalMs: o.eventRepeatIntervalMs } : {}),
  });
  const engine = new Engine(
    {
      settleUpMs: o.settleUpMs,
      settleDownMs: o.settleDownMs,
      batchWindowMs: o.batchWindowMs,
      defaults: o.defaults,
      ...(o.tickMs !== undefined ? { tickMs: o.tickMs } : {}),
      ...(o.refreshMs !== undefined ? { refreshMs: o.refreshMs } : {}),
    },
    { git: o.git, leadership: leader, events, metrics, marker: kubeLatchMarker(o.kubeconfig, log), clock, logger: log },
  );

  leader.start();
  await engine.start();
  const informers = startInformers(kinds, kubeInformerFactory(o.kubeconfig), engine, {
    clock,
    logger: log,
    metrics,
    ...(o.silentAfterMs !== undefined ? { silentAfterMs: o.silentAfterMs } : {}),
  });

  let stopping: Promise<void> | undefined;
  return {
    engine,
    leader,
    informers,
    metrics,
    kinds,
    stop() {
      stopping ??= (async () => {
        await informers.stop();
        await engine.stop();
        await leader.stop();
        await events.flush();
        log.info({}, 'watcher stopped');
      })();
      return stopping;
    },
  };
}
