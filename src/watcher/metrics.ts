// The watcher's Prometheus metrics, on a Registry of its own that the CLI serves at /metrics.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export class WatcherMetrics {
  readonly registry: Registry;
  /** latches written to git, by direction */
  readonly latches: Counter<'direction'>;
  /** latches due and not yet on the remote (waiting for the batch window, a retry or leadership) */
  readonly pending: Gauge;
  /** commits (push mode) or PR-branch updates (pr mode) that reached the remote */
  readonly commits: Counter;
  /** writes that failed (refresh, commit or push) */
  readonly pushFailures: Counter;
  /** unix seconds of the last write that reached the remote */
  readonly lastPush: Gauge;
  /** opted-in workloads with no single replicas line in git, by reason (none, ambiguous) */
  readonly unlocated: Gauge<'reason'>;
  /** 1 per workload with no single replicas line, naming the places in git that matched (file:line) */
  readonly unlocatedInfo: Gauge<'workload' | 'reason' | 'candidates'>;
  /** due latches that a write did not make, by outcome (stale, ambiguous, unlocated, error) */
  readonly latchesNotWritten: Counter<'outcome'>;
  /** opted-in workloads whose policy annotations are invalid */
  readonly invalidPolicy: Gauge;
  /** 1 while this replica holds the lease */
  readonly leader: Gauge;
  /** informer restarts, by kind and cause (error, silent) */
  readonly informerRestarts: Counter<'kind' | 'cause'>;
  /** seconds since each informer last heard from the apiserver (list, event or bookmark) */
  readonly informerFreshness: Gauge<'kind'>;

  private readonly freshnessSources = new Map<string, () => number>();

  constructor(opts: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = opts.registry ?? new Registry());
    // Unprefixed, as the webhook's: process_* and nodejs_* are the names every Node.js dashboard expects, and
    // the two containers are told apart by their scrape target, not by the metric name.
    if (opts.defaultMetrics) collectDefaultMetrics({ register: registry });
    const registers = [registry];
    this.latches = new Counter({
      name: 'kube_latch_watcher_latches_total',
      help: 'Latch points written to git, by direction (up, down).',
      labelNames: ['direction'],
      registers,
    });
    this.pending = new Gauge({
      name: 'kube_latch_watcher_pending_latches',
      help: 'Latches that are due and not yet pushed.',
      registers,
    });
    this.commits = new Counter({
      name: 'kube_latch_watcher_commits_total',
      help: 'Commits (push mode) or pull-request branch updates (pr mode) that reached the remote; one holds a batch of latches.',
      registers,
    });
    this.pushFailures = new Counter({
      name: 'kube_latch_watcher_push_failures_total',
      help: 'Git writes (fetch, commit or push) that failed and will be retried.',
      registers,
    });
    this.lastPush = new Gauge({
      name: 'kube_latch_watcher_last_push_timestamp_seconds',
      help: 'Unix time of the last write that reached the remote.',
      registers,
    });
    this.unlocated = new Gauge({
      name: 'kube_latch_watcher_unlocated_workloads',
      help: 'Opted-in workloads with no single replicas line in git (reason: none, ambiguous).',
      labelNames: ['reason'],
      registers,
    });
    this.unlocatedInfo = new Gauge({
      name: 'kube_latch_watcher_unlocated_workload_info',
      help: 'One series per opted-in workload with no single replicas line in git: its reason (none, ambiguous) and the file:line places that matched.',
      labelNames: ['workload', 'reason', 'candidates'],
      registers,
    });
    this.latchesNotWritten = new Counter({
      name: 'kube_latch_watcher_latches_not_written_total',
      help: 'Due latches that a write did not make, by outcome (stale: git changed under it; ambiguous; unlocated; error: the edit was refused).',
      labelNames: ['outcome'],
      registers,
    });
    this.invalidPolicy = new Gauge({
      name: 'kube_latch_watcher_invalid_policy_workloads',
      help: 'Opted-in workloads whose kube-latch.io annotations are invalid; they are skipped.',
      registers,
    });
    this.leader = new Gauge({
      name: 'kube_latch_watcher_leader',
      help: '1 while this replica holds the leader lease, else 0.',
      registers,
    });
    this.informerRestarts = new Counter({
      name: 'kube_latch_watcher_informer_restarts_total',
      help: 'Informer restarts, by kind and cause (error, silent).',
      labelNames: ['kind', 'cause'],
      registers,
    });
    const sources = this.freshnessSources;
    this.informerFreshness = new Gauge({
      name: 'kube_latch_watcher_informer_freshness_seconds',
      help: 'Seconds since the informer last heard from the apiserver (a list, an event or a bookmark), by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const [kind, f] of sources) this.set({ kind }, Math.round(f() * 1000) / 1000);
      },
    });
    this.unlocated.set({ reason: 'none' }, 0);
    this.unlocated.set({ reason: 'ambiguous' }, 0);
    this.pending.set(0);
    this.leader.set(0);
    this.invalidPolicy.set(0);
    for (const direction of ['up', 'down']) this.latches.inc({ direction }, 0);
    for (const outcome of ['stale', 'ambiguous', 'unlocated', 'error']) this.latchesNotWritten.inc({ outcome }, 0);
    this.pushFailures.inc(0);
    this.commits.inc(0);
  }

  /** Registers a freshness source, read at scrape time. */
  watchFreshness(kind: string, secondsSinceSignal: () => number): void {
    this.freshnessSources.set(kind, secondsSinceSignal);
  }
}
