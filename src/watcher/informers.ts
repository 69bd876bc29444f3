// Informers on opted-in workloads and on HPAs, supervised. client-node's ListWatch stops for good on
// an error, so each informer here is restarted with exponential backoff; and a watchdog restarts one
// that has gone silent (no list, event or bookmark for silentAfter), since a half-open connection can
// look alive forever. A restart builds a fresh informer: a relist, and deletions reconciled against
// what the new list holds. Callbacks from a superseded informer are ignored.
import type { KubernetesObject } from '@kubernetes/client-node';
import { ENABLED_LABEL } from '../latch/index.ts';
import { apiVersionOf, firstLine, HPA, type ResourceKind } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import type { WatcherMetrics } from './metrics.ts';
import { hpaReason, type HpaLikeForReason } from './hpa-reason.ts';
import type { HpaObservation, WorkloadObservation, WorkloadRef } from './types.ts';

export const ENABLED_SELECTOR = `${ENABLED_LABEL}=true`;

/** The part of a client-node Informer that the supervisor uses. */
export interface InformerLike {
  on(verb: 'add' | 'update' | 'delete', cb: (obj: KubernetesObject) => void): void;
  on(verb: 'error', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface InformerHooks {
  /** a list, a watch event or a bookmark arrived */
  onSignal(): void;
  /** a full list arrived (before its items are delivered as adds) */
  onList(items: readonly KubernetesObject[]): void;
}

export interface WatchSpec {
  readonly resource: ResourceKind;
  readonly labelSelector?: string;
}

export type InformerFactory = (spec: WatchSpec, hooks: InformerHooks) => InformerLike;

export interface SupervisorOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: WatcherMetrics;
  /** first restart delay after an error, doubling up to backoffMax (default 1 s → 60 s) */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** restart when nothing was heard for this long (default 5 min) */
  readonly silentAfterMs?: number;
  /** how often the watchdog looks (default 30 s) */
  readonly watchdogIntervalMs?: number;
}

export interface ObjectHandlers {
  upsert(obj: KubernetesObject): void;
  remove(obj: KubernetesObject): void;
}

export class SupervisedInformer {
  readonly spec: WatchSpec;
  private readonly factory: InformerFactory;
  private readonly handlers: ObjectHandlers;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly metrics: WatcherMetrics | undefined;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly silentAfterMs: number;
  private readonly watchdogIntervalMs: number;

  /** what the current and previous informers delivered, to reconcile deletions on relist */
  private readonly known = new Map<string, KubernetesObject>();
  private current: InformerLike | undefined;
  private generation = 0;
  private running = false;
  private failures = 0;
  private lastSignal: number;
  private lastStart: number;
  private restartTimer: TimerHandle | undefined;
  private watchdogTimer: TimerHandle | undefined;
  /** number of restarts so far, by cause */
  readonly restarts = { error: 0, silent: 0 };

  constructor(spec: WatchSpec, factory: InformerFactory, handlers: ObjectHandlers, opts: SupervisorOptions = {}) {
    this.spec = spec;
    this.factory = factory;
    this.handlers = handlers;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.backoffBaseMs = opts.backoffBaseMs ?? 1_000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 60_000;
    this.silentAfterMs = opts.silentAfterMs ?? 5 * 60_000;
    this.watchdogIntervalMs = opts.watchdogIntervalMs ?? 30_000;
    this.lastSignal = this.lastStart = this.clock.now();
  }

  get kind(): string {
    return this.spec.resource.kind;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.launch();
    this.scheduleWatchdog();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    for (const t of [this.restartTimer, this.watchdogTimer]) if (t) this.clock.clearTimeout(t);
    this.restartTimer = this.watchdogTimer = undefined;
    const inf = this.current;
    this.current = undefined;
    await inf?.stop().catch(() => undefined);
  }

  /** Seconds since the apiserver was last heard from (list, event or bookmark), or since the start. */
  secondsSinceSignal(): number {
    return (this.clock.now() - this.lastSignal) / 1000;
  }

  /** Objects currently known (the informer cache as the handlers saw it). */
  objects(): KubernetesObject[] {
    return [...this.known.values()];
  }

  private launch(): void {
    const gen = ++this.generation;
    const live = () => gen === this.generation;
    this.lastStart = this.clock.now();
    const inf = this.factory(this.spec, {
      onSignal: () => {
        if (!live()) return;
        this.lastSignal = this.clock.now();
        this.failures = 0;
      },
      onList: (items) => {
        if (live()) this.reconcile(items);
      },
    });
    this.current = inf;
    inf.on('add', (o) => live() && this.upsert(o));
    inf.on('update', (o) => live() && this.upsert(o));
    inf.on('delete', (o) => live() && this.remove(o));
    inf.on('error', (err) => {
      if (live()) this.restart('error', err);
    });
    inf.start().catch((err: unknown) => {
      if (live()) this.restart('error', err);
    });
  }

  private restart(cause: 'error' | 'silent', err?: unknown): void {
    if (!this.running) return;
    this.generation++; // silence the old informer before it is stopped: its abort surfaces as an error
    const old = this.current;
    this.current = undefined;
    void old?.stop().catch(() => undefined);
    this.restarts[cause]++;
    this.metrics?.informerRestarts.inc({ kind: this.kind, cause });
    const delay = cause === 'silent' ? 0 : Math.min(this.backoffBaseMs * 2 ** this.failures, this.backoffMaxMs);
    if (cause === 'error') this.failures++;
    this.log?.warn(
      { kind: this.kind, cause, retryInMs: delay, ...(err !== undefined ? { err: firstLine(err) } : {}) },
      cause === 'silent' ? 'informer silent; restarting it' : 'informer failed; restarting it',
    );
    if (this.restartTimer) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      if (this.running) this.launch();
    }, delay);
  }

  private scheduleWatchdog(): void {
    this.watchdogTimer = this.clock.setTimeout(() => {
      this.watchdogTimer = undefined;
      if (!this.running) return;
      const quietSince = Math.max(this.lastSignal, this.lastStart);
      if (this.current && this.clock.now() - quietSince >= this.silentAfterMs) this.restart('silent');
      this.scheduleWatchdog();
    }, this.watchdogIntervalMs);
  }

  private reconcile(items: readonly KubernetesObject[]): void {
    const listed = new Set(items.map(objectKey));
    for (const [key, obj] of this.known) if (!listed.has(key)) this.remove(obj);
  }

  private upsert(obj: KubernetesObject): void {
    const key = objectKey(obj);
    if (!obj.metadata?.name) return;
    this.known.set(key, obj);
    try {
      this.handlers.upsert(obj);
    } catch (err) {
      this.log?.error({ kind: this.kind, object: key, err: firstLine(err) }, 'handler failed');
    }
  }

  private remove(obj: KubernetesObject): void {
    const key = objectKey(obj);
    if (!this.known.delete(key)) return;
    try {
      this.handlers.remove(obj);
    } catch (err) {
      this.log?.error({ kind: this.kind, object: key, err: firstLine(err) }, 'handler failed');
    }
  }
}

function objectKey(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

// ---- from Kubernetes objects to what the engine observes ----

interface WorkloadLike extends KubernetesObject {
  spec?: { replicas?: unknown };
}

export function toWorkload(kind: ResourceKind, obj: KubernetesObject): WorkloadObservation | undefined {
  const m = obj.metadata;
  if (!m?.name || !m.namespace) return undefined;
  const replicas = (obj as WorkloadLike).spec?.replicas;
  return {
    ref: { namespace: m.namespace, kind: kind.kind, name: m.name },
    apiVersion: apiVersionOf(kind),
    ...(m.uid ? { uid: m.uid } : {}),
    // The apiserver defaults a missing spec.replicas to 1; so do we.
    replicas: typeof replicas === 'number' && Number.isSafeInteger(replicas) && replicas >= 0 ? replicas : 1,
    annotations: m.annotations ?? {},
  };
}

interface HpaLike extends KubernetesObject {
  spec?: { scaleTargetRef?: { apiVersion?: string; kind?: string; name?: string }; minReplicas?: number; maxReplicas?: number };
}

export function toHpa(obj: KubernetesObject): HpaObservation | undefined {
  const m = obj.metadata;
  const spec = (obj as HpaLike).spec;
  const t = spec?.scaleTargetRef;
  if (!m?.name || !m.namespace || !t?.kind || !t.name || typeof spec?.maxReplicas !== 'number') return undefined;
  return {
    namespace: m.namespace,
    name: m.name,
    target: { apiVersion: t.apiVersion ?? '', kind: t.kind, name: t.name },
    min: typeof spec.minReplicas === 'number' ? spec.minReplicas : 1,
    max: spec.maxReplicas,
    ...reasonOf(obj),
  };
}

function reasonOf(obj: KubernetesObject): { reason?: string } {
  const reason = hpaReason(obj as HpaLikeForReason);
  return reason === undefined ? {} : { reason };
}

/** What the informers feed: the Engine implements it. */
export interface InformerSink {
  upsertWorkload(o: WorkloadObservation): void;
  removeWorkload(ref: WorkloadRef): void;
  upsertHpa(h: HpaObservation): void;
  removeHpa(namespace: string, name: string): void;
}

export interface WatcherInformers {
  readonly informers: readonly SupervisedInformer[];
  stop(): Promise<void>;
}

/**
 * Starts one supervised informer per workload kind (label selector kube-latch.io/enabled=true) and one
 * on all HPAs, feeding the sink, and registers their freshness with the metrics.
 */
export function startInformers(
  kinds: readonly ResourceKind[],
  factory: InformerFactory,
  sink: InformerSink,
  opts: SupervisorOptions = {},
): WatcherInformers {
  const informers: SupervisedInformer[] = [];
  for (const kind of kinds) {
    informers.push(
      new SupervisedInformer({ resource: kind, labelSelector: ENABLED_SELECTOR }, factory, {
        upsert: (obj) => {
          const w = toWorkload(kind, obj);
          if (w) sink.upsertWorkload(w);
        },
        remove: (obj) => {
          const w = toWorkload(kind, obj);
          if (w) sink.removeWorkload(w.ref);
        },
      }, opts),
    );
  }
  informers.push(
    new SupervisedInformer({ resource: HPA }, factory, {
      upsert: (obj) => {
        const h = toHpa(obj);
        if (h) sink.upsertHpa(h);
        else if (obj.metadata?.namespace && obj.metadata.name) sink.removeHpa(obj.metadata.namespace, obj.metadata.name);
      },
      remove: (obj) => {
        if (obj.metadata?.namespace && obj.metadata.name) sink.removeHpa(obj.metadata.namespace, obj.metadata.name);
      },
    }, opts),
  );
  for (const inf of informers) {
    opts.metrics?.watchFreshness(inf.kind, () => inf.secondsSinceSignal());
    inf.start();
  }
  return {
    informers,
    stop: async () => {
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
