// Kubernetes Events on workloads (core/v1, which `kubectl describe` and every dashboard show).
// A stuck workload is re-reported on every evaluation; the recorder folds repeats of the same
// (object, type, reason, message) into one Event whose count and lastTimestamp move, and talks to the
// apiserver about it at most once per repeat interval. Recording never throws and never blocks.
import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { redactUrl } from '../redact.ts';
import { systemClock, type Clock } from '../watcher/clock.ts';
import type { EventSink, EventTarget } from '../watcher/types.ts';
import { firstLine, statusOf } from './client.ts';

/** The two calls the recorder makes: RBAC needs `create` and `patch` on core events, nothing else. */
export interface EventApi {
  create(namespace: string, body: CoreV1Event): Promise<CoreV1Event>;
  /** a JSON merge patch of the repeat fields */
  patch(namespace: string, name: string, repeat: { count: number; lastTimestamp: string }): Promise<unknown>;
}

export function kubeEventApi(kc: KubeConfig): EventApi {
  const api = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return {
    create: (namespace, body) => api.createNamespacedEvent({ namespace, body }),
    patch: (namespace, name, body) => api.patchNamespacedEvent({ namespace, name, body }, merge),
  };
}

export interface RecorderOptions {
  /** source.component / reportingComponent, e.g. `kube-latch-watcher` */
  readonly component: string;
  /** reportingInstance: the pod name */
  readonly instance?: string;
  /** an unchanged repeat updates the Event's count at most this often (default 5 min) */
  readonly repeatIntervalMs?: number;
  /** distinct Events remembered for de-duplication (default 4096) */
  readonly maxEntries?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Entry {
  /** the Event's name once created */
  name: string | undefined;
  count: number;
  sentCount: number;
  lastSentAt: number;
  busy: Promise<void> | undefined;
}

const MAX_MESSAGE = 1024;

export class EventRecorder implements EventSink {
  private readonly api: EventApi;
  private readonly component: string;
  private readonly instance: string | undefined;
  private readonly repeatIntervalMs: number;
  private readonly maxEntries: number;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Set<Promise<void>>();

  constructor(api: EventApi, opts: RecorderOptions) {
    this.api = api;
    this.component = opts.component;
    this.instance = opts.instance;
    this.repeatIntervalMs = opts.repeatIntervalMs ?? 5 * 60_000;
    this.maxEntries = opts.maxEntries ?? 4096;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
  }

  record(target: EventTarget, ev: { type: 'Normal' | 'Warning'; reason: string; message: string }): void {
    // Redacted before it is cut: a cut could leave half a URL that the redaction no longer recognises.
    const full = redactUrl(ev.message);
    const message = full.length > MAX_MESSAGE ? full.slice(0, MAX_MESSAGE - 1) + '…' : full;
    const key = [target.namespace, target.kind, target.name, target.uid ?? '', ev.type, ev.reason, message].join('\u0000');
    let entry = this.entries.get(key);
    if (entry) {
      // refresh its place in the LRU order
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      entry = { name: undefined, count: 0, sentCount: 0, lastSentAt: -Infinity, busy: undefined };
      this.entries.set(key, entry);
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    entry.count++;
    const now = this.clock.now();
    if (entry.busy || now - entry.lastSentAt < this.repeatIntervalMs) return;
    entry.lastSentAt = now;
    const e = entry;
    const p = this.send(target, ev.type, ev.reason, message, e).finally(() => {
      e.busy = undefined;
      this.inflight.delete(p);
    });
    e.busy = p;
    this.inflight.add(p);
  }

  /** Waits for every request in flight (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private async send(target: EventTarget, type: string, reason: string, message: string, e: Entry): Promise<void> {
    const now = new Date(this.clock.now());
    const count = e.count;
    try {
      if (e.name) {
        try {
          await this.api.patch(target.namespace, e.name, { count, lastTimestamp: now.toISOString() });
          e.sentCount = count;
          return;
        } catch (err) {
          // Events expire (the apiserver's event TTL, 1 h by default): start a new one.
          if (statusOf(err) !== 404) throw err;
        }
      }
      const body: CoreV1Event = {
        metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace: target.namespace },
        involvedObject: {
          apiVersion: target.apiVersion,
          kind: target.kind,
          namespace: target.namespace,
          name: target.name,
          ...(target.uid ? { uid: target.uid } : {}),
        },
        type,
        reason,
        message,
        count,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.component },
        reportingComponent: this.component,
        ...(this.instance ? { reportingInstance: this.instance } : {}),
      };
      const created = await this.api.create(target.namespace, body);
      e.name = created.metadata?.name ?? body.metadata!.name;
      e.sentCount = count;
    } catch (err) {
      this.log?.warn({ reason, object: `${target.namespace}/${target.kind}/${target.name}`, err: firstLine(err) }, 'could not record Event');
    }
  }
}
