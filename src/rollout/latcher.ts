// The rollout latcher (experimental, `--rollout-milestones`): watches opted-in Deployments and the
// ReplicaSets they own, and writes each change of milestone (started, 25 %, 50 %, 75 %, complete,
// failed) as the annotation kube-latch.io/rollout on the workload's own document in git.
//
// Like the replicas engine it is level-triggered (a restart recomputes from the live objects and git),
// leader-only for writes and Events, and batched: milestones that change within one batch window go
// into one commit (push mode) or one update of the cluster PR (pr mode); the newest milestone of a
// workload replaces an older pending one. A value git already holds is never committed again, and a
// `complete` rollout of a manifest that carries no annotation writes nothing (absent means "nothing in
// flight"), so enabling the feature does not touch every manifest.
//
// In pr mode a failed rollout also gets a separate PR, on its own branch, that restores the pod
// template from git history (revert.ts). In push mode only the annotation is written.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FieldChange } from '../git/changes.ts';
import { workloadBranch } from '../git/pr/index.ts';
import type { WorkloadRef } from '../git/types.ts';
import { ANNOTATIONS } from '../latch/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { systemClock, type Clock, type TimerHandle } from '../watcher/clock.ts';
import type { EventSink, EventTarget, Leadership } from '../watcher/types.ts';
import { imagesOf, ROLLOUT_ANNOTATION, sameImages, formatImages } from './format.ts';
import type { RolloutGit } from './git.ts';
import { ownedBy, revisionOf, rolloutState, type DeploymentLike, type ReplicaSetLike, type RolloutState } from './milestone.ts';
import {
  applyTemplateRestore,
  chooseRevertTarget,
  documentAt,
  findWorkloadDocument,
  planTemplateRestore,
  revertBody,
  revertTitle,
  rolloutAnnotationOf,
  templateOf,
  type HistoryEntry,
} from './revert.ts';
import { failedRecordFor } from './warning.ts';

export const ROLLOUT_PATH = ['metadata', 'annotations', ROLLOUT_ANNOTATION] as const;

/** How many commits of a file the revert looks back through. */
export const HISTORY_DEPTH = 200;

export class RolloutMetrics {
  readonly milestones: Counter<'milestone'>;
  readonly latency: Histogram;
  readonly pending: Gauge;
  readonly failures: Counter;
  readonly reverts: Counter<'result'>;

  constructor(registry: Registry = new Registry()) {
    const registers = [registry];
    this.milestones = new Counter({
      name: 'kube_latch_rollout_milestones_written_total',
      help: 'Rollout milestones written to git (kube-latch.io/rollout), by milestone.',
      labelNames: ['milestone'],
      registers,
    });
    this.latency = new Histogram({
      name: 'kube_latch_rollout_milestone_to_commit_seconds',
      help: 'Seconds from seeing a rollout milestone to its write reaching the remote.',
      buckets: [0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120, 300],
      registers,
    });
    this.pending = new Gauge({ name: 'kube_latch_rollout_pending_milestones', help: 'Milestones seen and not yet in git.', registers });
    this.failures = new Counter({ name: 'kube_latch_rollout_write_failures_total', help: 'Failed git fetches or writes of milestones (retried).', registers });
    this.reverts = new Counter({
      name: 'kube_latch_rollout_revert_prs_total',
      help: 'Revert PRs for failed rollouts, by result (proposed, not-proposed, failed).',
      labelNames: ['result'],
      registers,
    });
  }
}

export interface LatcherConfig {
  /** milestones seen within this window share one write (the watcher's --batch-window) */
  readonly batchWindowMs: number;
  /** backstop: re-evaluate everything and look for due writes this often (default 15 s) */
  readonly tickMs?: number;
  /** backoff for failed fetches and writes: base doubling to max (default 1 s → 60 s) */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export interface LatcherDeps {
  readonly git: RolloutGit;
  readonly leadership: Leadership;
  readonly events: EventSink;
  readonly metrics?: RolloutMetrics;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** One milestone written to git, for diagnostics and the e2e figures. */
export interface WrittenMilestone {
  readonly workload: string;
  readonly value: string;
  /** when the latcher first saw this value (ms since the epoch) */
  readonly observedAt: number;
  /** when the oldest milestone this write settles was seen (an earlier value it replaced, or this one) */
  readonly since: number;
  /** when the write reached the remote */
  readonly writtenAt: number;
  /** commit id or PR URL */
  readonly revision?: string;
}

/** A revert PR opened (or found up to date) for a failed rollout. */
export interface ProposedRevert {
  readonly workload: string;
  readonly revision: number;
  readonly commit: string;
  readonly url?: string;
}

interface Tracked {
  ref: WorkloadRef;
  uid: string;
  obj: DeploymentLike;
  state: RolloutState | undefined;
}

interface Pending {
  readonly ref: WorkloadRef;
  readonly value: string;
  readonly milestone: string;
  readonly observedAt: number;
  /** observedAt of the oldest pending value this one replaced */
  readonly since: number;
}

const MAX_HISTORY = 1000;

export class Latcher {
  private readonly git: RolloutGit;
  private readonly leadership: Leadership;
  private readonly events: EventSink;
  private readonly metrics: RolloutMetrics;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cfg: Required<LatcherConfig>;

  private readonly tracked = new Map<string, Tracked>();
  private readonly keyByUid = new Map<string, string>();
  /** owner uid → ReplicaSet uid → ReplicaSet, for every ReplicaSet a Deployment controls */
  private readonly replicaSets = new Map<string, Map<string, ReplicaSetLike>>();
  private readonly ownerOfRs = new Map<string, string>();
  private readonly pending = new Map<string, Pending>();
  private readonly inflight = new Map<string, Pending>();
  /** the value git holds (or the cluster PR proposes) per workload, as far as this process knows */
  private readonly inGit = new Map<string, string>();
  /** a value that could not be located in git: not retried until the milestone changes */
  private readonly skipped = new Map<string, string>();
  /** failed rollouts (`uid@revision`) waiting for their revert PR, and those done */
  private readonly revertDue = new Map<string, string>();
  private readonly revertDone = new Set<string>();

  readonly written: WrittenMilestone[] = [];
  readonly reverts: ProposedRevert[] = [];

  private running = false;
  private writing: Promise<void> | undefined;
  private flushTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private failuresInARow = 0;
  private flushFailed = false;
  private retryAt: number | undefined;

  constructor(cfg: LatcherConfig, deps: LatcherDeps) {
    this.cfg = { tickMs: 15_000, retryBaseMs: 1_000, retryMaxMs: 60_000, ...cfg };
    this.git = deps.git;
    this.leadership = deps.leadership;
    this.events = deps.events;
    this.metrics = deps.metrics ?? new RolloutMetrics();
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? createLogger('rollout');
    this.leadership.onChange((leader) => {
      if (leader) {
        for (const key of this.tracked.keys()) this.evaluate(key);
        this.scheduleFlush();
      }
    });
  }

  start(): void {
    this.running = true;
    this.scheduleFlush();
    this.scheduleTick();
  }

  /** Stops the timers and waits for a write in progress; pending milestones are not written. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of [this.flushTimer, this.tickTimer]) if (t) this.clock.clearTimeout(t);
    this.flushTimer = this.tickTimer = undefined;
    await this.writing;
  }

  /**
   * The backstop: leadership can lapse for a moment without a transition (a renew that came back late),
   * so a flush that found this replica not leading is retried here, as the replicas engine's tick does.
   */
  private scheduleTick(): void {
    if (!this.running) return;
    this.tickTimer = this.clock.setTimeout(() => {
      this.tickTimer = undefined;
      for (const key of this.tracked.keys()) this.evaluate(key);
      this.scheduleFlush();
      this.scheduleTick();
    }, this.cfg.tickMs);
  }

  // ---- inputs (from informers) ----

  upsertDeployment(obj: KubernetesObject): void {
    const m = obj.metadata;
    if (!m?.name || !m.namespace || !m.uid) return;
    const source = m.annotations?.[ANNOTATIONS.source];
    const ref: WorkloadRef = { namespace: m.namespace, kind: 'Deployment', name: m.name, ...(source ? { source } : {}) };
    const key = `${m.namespace}/${m.name}`;
    const t = this.tracked.get(key);
    if (t && t.uid !== m.uid) this.keyByUid.delete(t.uid);
    this.tracked.set(key, { ref, uid: m.uid, obj: obj as DeploymentLike, state: t?.uid === m.uid ? t.state : undefined });
    this.keyByUid.set(m.uid, key);
    this.evaluate(key);
  }

  removeDeployment(obj: KubernetesObject): void {
    const m = obj.metadata;
    if (!m?.name || !m.namespace) return;
    const key = `${m.namespace}/${m.name}`;
    const t = this.tracked.get(key);
    if (!t) return;
    this.tracked.delete(key);
    this.keyByUid.delete(t.uid);
    this.pending.delete(key);
    this.revertDue.delete(key);
    this.inGit.delete(key);
    this.skipped.delete(key);
    this.updateGauge();
  }

  upsertReplicaSet(obj: KubernetesObject): void {
    const rs = obj as ReplicaSetLike;
    const uid = rs.metadata?.uid;
    if (!uid) return;
    const owner = rs.metadata?.ownerReferences?.find((o) => o.controller === true && o.kind === 'Deployment')?.uid;
    const before = this.ownerOfRs.get(uid);
    if (before && before !== owner) this.dropRs(uid, before);
    if (!owner || !ownedBy(rs, owner)) return;
    let set = this.replicaSets.get(owner);
    if (!set) this.replicaSets.set(owner, (set = new Map()));
    set.set(uid, rs);
    this.ownerOfRs.set(uid, owner);
    const key = this.keyByUid.get(owner);
    if (key) this.evaluate(key);
  }

  removeReplicaSet(obj: KubernetesObject): void {
    const uid = obj.metadata?.uid;
    const owner = uid ? this.ownerOfRs.get(uid) : undefined;
    if (!uid || !owner) return;
    this.dropRs(uid, owner);
    const key = this.keyByUid.get(owner);
    if (key) this.evaluate(key);
  }

  private dropRs(uid: string, owner: string): void {
    const set = this.replicaSets.get(owner);
    set?.delete(uid);
    if (set?.size === 0) this.replicaSets.delete(owner);
    this.ownerOfRs.delete(uid);
  }

  /** The rollout state last computed for `namespace/name`. */
  state(namespace: string, name: string): RolloutState | undefined {
    return this.tracked.get(`${namespace}/${name}`)?.state;
  }

  /** Milestones seen and not yet in git. */
  pendingValues(): { workload: string; value: string }[] {
    return [...this.inflight, ...[...this.pending].filter(([k]) => !this.inflight.has(k))].map(([workload, p]) => ({ workload, value: p.value }));
  }

  // ---- evaluation ----

  private evaluate(key: string): void {
    const t = this.tracked.get(key);
    if (!t) return;
    this.noteRebuiltFailure(t);
    const st = rolloutState(t.obj, [...(this.replicaSets.get(t.uid)?.values() ?? [])]);
    if (!st) return;
    const prev = t.state;
    t.state = st;
    if (prev?.value !== st.value) {
      this.log.info({ workload: key, milestone: st.milestone, revision: st.revision, available: st.available, desired: st.desired }, 'rollout milestone');
    }
    if (st.milestone === 'failed') {
      this.event(t, 'Warning', 'RolloutFailed', `kube-latch: rollout of revision ${st.revision} failed: ${st.message ?? st.reason ?? 'ProgressDeadlineExceeded'}`);
      const id = `${t.uid}@${st.revision}`;
      if (this.git.mode === 'pr' && !this.revertDone.has(id) && this.revertDue.get(key) !== id) {
        this.revertDue.set(key, id);
        this.scheduleFlush();
      }
    }
    if (this.inGit.get(key) === st.value || this.skipped.get(key) === st.value) {
      if (this.pending.delete(key)) this.updateGauge();
      return;
    }
    this.skipped.delete(key);
    const before = this.pending.get(key);
    if (before?.value === st.value) return;
    const now = this.clock.now();
    this.pending.set(key, { ref: t.ref, value: st.value, milestone: st.milestone, observedAt: now, since: before?.since ?? now });
    this.updateGauge();
    this.scheduleFlush();
  }

  /**
   * A Deployment whose live annotation (applied from git) records that its own template failed, in
   * another revision than the current one: a cluster rebuilt from git, or a re-created Deployment.
   * The webhook warned the client; this is the Event that stays on the object.
   */
  private noteRebuiltFailure(t: Tracked): void {
    const failed = failedRecordFor(t.obj);
    if (!failed || failed.revision === revisionOf(t.obj.metadata?.annotations)) return;
    this.event(
      t,
      'Warning',
      'RolloutFailedBefore',
      `kube-latch: git records that this pod template failed its rollout (revision ${failed.revision}); it was applied as is, not blocked or changed`,
    );
  }

  private event(t: Tracked, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (!this.leadership.isLeader()) return;
    const target: EventTarget = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: t.ref.namespace, name: t.ref.name, uid: t.uid };
    this.events.record(target, { type, reason, message });
  }

  // ---- batching and writing ----

  private scheduleFlush(): void {
    if (!this.running || this.flushTimer || this.writing) return;
    if (this.pending.size === 0 && this.revertDue.size === 0) return;
    if (!this.leadership.isLeader()) return; // becoming leader schedules it
    let at: number;
    if (this.retryAt !== undefined) at = this.retryAt;
    else {
      at = Infinity;
      for (const p of this.pending.values()) at = Math.min(at, p.since + this.cfg.batchWindowMs);
      if (this.revertDue.size > 0) at = Math.min(at, this.clock.now());
    }
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      this.writing = this.flush().finally(() => {
        this.writing = undefined;
        this.scheduleFlush();
      });
    }, Math.max(0, at - this.clock.now()));
  }

  private async flush(): Promise<void> {
    if (!this.leadership.isLeader()) {
      this.log.debug({ pending: this.pending.size }, 'not leading; milestones stay pending');
      return;
    }
    this.log.debug({ pending: this.pending.size, reverts: this.revertDue.size }, 'writing rollout milestones');
    this.flushFailed = false;
    try {
      await this.git.sync();
    } catch (err) {
      return this.failed('git fetch failed', err);
    }
    try {
      if (this.pending.size > 0) await this.writeMilestones();
      for (const [key, id] of [...this.revertDue]) {
        if (this.flushFailed || !this.running || !this.leadership.isLeader()) break;
        await this.revert(key, id);
      }
    } catch (err) {
      this.requeue();
      return this.failed('git failed', err);
    }
    if (!this.flushFailed) {
      this.failuresInARow = 0;
      this.retryAt = undefined;
    }
  }

  private async writeMilestones(): Promise<void> {
    const changes: FieldChange[] = [];
    const byChange = new Map<FieldChange, [string, Pending]>();
    for (const [key, p] of [...this.pending]) {
      const t = this.tracked.get(key);
      const loc = t ? this.git.locate(p.ref) : undefined;
      if (!t || !loc) {
        this.pending.delete(key);
        continue;
      }
      if (loc.state !== 'located') {
        const where = loc.candidates.length ? `: ${loc.candidates.slice(0, 8).join(', ')}${loc.candidates.length > 8 ? ` and ${loc.candidates.length - 8} more` : ''}` : '';
        const msg = `kube-latch: rollout milestone ${p.value} not written: ${loc.state === 'ambiguous' ? 'several documents in git declare this Deployment' : 'no document in git declares this Deployment'}${where} (${loc.reason})`;
        this.log.warn({ workload: key, state: loc.state, candidates: loc.candidates }, msg);
        this.event(t, 'Warning', loc.state === 'ambiguous' ? 'RolloutTargetAmbiguous' : 'RolloutTargetNotFound', msg);
        this.skipped.set(key, p.value);
        this.pending.delete(key);
        continue;
      }
      const text = await this.git.show('tip', loc.file);
      const current = text === undefined ? undefined : rolloutAnnotationOf(documentAt(text, loc.docIndex));
      if (current === p.value || (p.value === 'complete' && current === undefined)) {
        this.inGit.set(key, p.value);
        this.pending.delete(key);
        continue;
      }
      const change: FieldChange = { type: 'field', ref: p.ref, path: [...ROLLOUT_PATH], value: p.value };
      changes.push(change);
      byChange.set(change, [key, p]);
    }
    for (const [key, p] of byChange.values()) {
      this.inflight.set(key, p);
      this.pending.delete(key);
      // Until the write resolves git's value is unknown: a milestone seen meanwhile (say `complete`
      // again, while `75%` is being pushed) must queue, not match a value git is about to lose.
      this.inGit.delete(key);
    }
    this.updateGauge();
    if (changes.length === 0) return;

    const r = await this.git.write(changes, () => this.leadership.isLeader());
    if (!r.ok) {
      this.requeue();
      if (r.notLeader) {
        // Not a failure, but do not spin: look again after the base delay (or when leadership returns).
        this.flushFailed = true;
        this.retryAt = this.clock.now() + this.cfg.retryBaseMs;
        this.log.warn({ milestones: changes.length }, 'lost leadership before the push; milestones stay pending');
      }
      else this.failed('git write failed', new Error(r.error));
      return;
    }
    const now = this.clock.now();
    for (const c of r.already) this.inGit.set(byChange.get(c)![0], String(c.value));
    for (const c of r.written) {
      const [key, p] = byChange.get(c)!;
      this.inGit.set(key, p.value);
      this.metrics.milestones.inc({ milestone: p.milestone });
      this.metrics.latency.observe((now - p.observedAt) / 1000);
      this.written.push({ workload: key, value: p.value, observedAt: p.observedAt, since: p.since, writtenAt: now, ...(r.revision ? { revision: r.revision } : {}) });
      if (this.written.length > MAX_HISTORY) this.written.shift();
      const t = this.tracked.get(key);
      if (t) this.event(t, 'Normal', 'RolloutMilestoneWritten', `kube-latch: git ${ROLLOUT_ANNOTATION} = ${p.value}${r.revision ? ` in ${r.revision}` : ''}`);
    }
    for (const c of changes) {
      if (!r.written.includes(c) && !r.already.includes(c)) {
        const [key, p] = byChange.get(c)!;
        this.log.warn({ workload: key, value: p.value }, 'milestone not written (the document moved or could not be edited); it is retried when the milestone changes');
        this.skipped.set(key, p.value);
      }
    }
    this.log.info({ written: r.written.length, already: r.already.length, revision: r.revision }, r.written.length > 0 ? 'rollout milestones written to git' : 'rollout milestones were already in git');
    this.inflight.clear();
    this.updateGauge();
  }

  /** Puts in-flight milestones back, unless a newer one for the same workload was seen meanwhile. */
  private requeue(): void {
    for (const [key, p] of this.inflight) if (!this.pending.has(key)) this.pending.set(key, p);
    this.inflight.clear();
    this.updateGauge();
  }

  private failed(what: string, err: unknown): void {
    this.flushFailed = true;
    this.metrics.failures.inc();
    const delay = Math.min(this.cfg.retryBaseMs * 2 ** this.failuresInARow, this.cfg.retryMaxMs);
    this.failuresInARow++;
    this.retryAt = this.clock.now() + delay;
    this.log.warn({ err: (err as Error).message, retryInMs: delay, pending: this.pending.size }, what);
  }

  private updateGauge(): void {
    let n = this.inflight.size;
    for (const k of this.pending.keys()) if (!this.inflight.has(k)) n++;
    this.metrics.pending.set(n);
  }

  // ---- revert PR for a failed rollout (pr mode) ----

  private async revert(key: string, id: string): Promise<void> {
    const t = this.tracked.get(key);
    const st = t?.state;
    if (!t || !st || st.milestone !== 'failed' || `${t.uid}@${st.revision}` !== id) {
      this.revertDue.delete(key);
      return;
    }
    const done = (result: 'proposed' | 'not-proposed', message: string, type: 'Normal' | 'Warning') => {
      this.revertDue.delete(key);
      this.revertDone.add(id);
      this.metrics.reverts.inc({ result });
      this.log[type === 'Normal' ? 'info' : 'warn']({ workload: key, revision: st.revision }, message);
      this.event(t, type, result === 'proposed' ? 'RolloutRevertProposed' : 'RolloutRevertNotProposed', message);
    };
    const loc = this.git.locate(t.ref);
    if (loc.state !== 'located') return done('not-proposed', `kube-latch: no revert PR for revision ${st.revision}: ${loc.reason}`, 'Warning');
    const head = await this.git.show('tip', loc.file);
    const failing = templateOf(head === undefined ? undefined : documentAt(head, loc.docIndex));
    if (head === undefined || failing === undefined) {
      return done('not-proposed', `kube-latch: no revert PR for revision ${st.revision}: ${loc.file} has no spec.template for this Deployment`, 'Warning');
    }
    if (!sameImages(imagesOf(failing), st.images)) {
      return done(
        'not-proposed',
        `kube-latch: no revert PR for revision ${st.revision}: git's template in ${loc.file} (${formatImages(imagesOf(failing))}) is not the one that failed`,
        'Warning',
      );
    }

    const history: HistoryEntry[] = [];
    for (const commit of await this.git.log(loc.file, HISTORY_DEPTH)) {
      const text = await this.git.show(commit, loc.file);
      const doc = text === undefined ? undefined : findWorkloadDocument(text, t.ref);
      history.push({ commit, annotation: rolloutAnnotationOf(doc?.data), template: templateOf(doc?.data) });
      if (chooseRevertTarget(history, failing)?.via === 'complete') break;
    }
    const target = chooseRevertTarget(history, failing);
    if (!target) {
      return done('not-proposed', `kube-latch: no revert PR for revision ${st.revision}: no other template in the last ${history.length} commits of ${loc.file}`, 'Warning');
    }
    const plan = planTemplateRestore(failing, target.template);
    const check = plan.ok ? applyTemplateRestore(head, loc.docIndex, plan.edits, target.template) : plan;
    if (!plan.ok || !check.ok) {
      const why = !plan.ok ? plan.reason : !check.ok ? check.reason : '';
      return done(
        'not-proposed',
        `kube-latch: no revert PR for revision ${st.revision}: ${why}; restore spec.template of ${loc.file} from ${target.commit.slice(0, 12)} by hand`,
        'Warning',
      );
    }

    const workload = `${t.ref.namespace}/Deployment/${t.ref.name}`;
    const changes: FieldChange[] = plan.edits.map((e) => ({ type: 'field', ref: t.ref, path: e.path, value: e.value }));
    const r = await this.git.propose(changes, {
      branch: workloadBranch(this.git.cluster, 'revert', t.ref),
      title: revertTitle({ workload, target, state: st }),
      body: revertBody({ workload, cluster: this.git.cluster, file: loc.file, target, edits: plan.edits, state: st, progressDeadlineSeconds: t.obj.spec?.progressDeadlineSeconds }),
      mayPush: () => this.leadership.isLeader(),
    });
    if (!r.ok) {
      if (r.notLeader) {
        // stays due: proposed once this replica leads again (or by the next leader)
        this.flushFailed = true;
        this.retryAt = this.clock.now() + this.cfg.retryBaseMs;
        return;
      }
      this.metrics.reverts.inc({ result: 'failed' });
      throw new Error(`revert PR for ${workload}: ${r.error}`);
    }
    this.reverts.push({ workload, revision: st.revision, commit: target.commit, ...(r.url ? { url: r.url } : {}) });
    done('proposed', `kube-latch: revision ${st.revision} failed; proposed restoring the pod template of ${target.commit.slice(0, 12)}${r.url ? ` in ${r.url}` : ''}`, 'Normal');
  }
}
