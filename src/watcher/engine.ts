// The engine decides WHEN and WHAT to latch. It is fed live workloads and HPAs (from informers),
// asks git where each workload's replicas are declared, runs the settle rules, and writes the latches
// that fall due within one batch window as one write. Level-triggered: its only memory is the settle
// state, which a restart rebuilds conservatively from the live objects and git.
//
// Flow per workload: policy (annotations > defaults, HPA bounds when no bound annotations) → location
// in git → settle verdict → due latch into `pending` → batch timer → flush: refresh git, drop what git
// already holds or what a human changed meanwhile, then one GitState.write, guarded by leadership.
import { ANNOTATIONS, band, formatBand, resolvePolicy, type Policy, type PolicyDefaults } from '../latch/index.ts';
import { createLogger, type Logger } from '../log.ts';
import { PlaceClaims } from './claims.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import type { WatcherMetrics } from './metrics.ts';
import type { SettleConfig, SettleState, Verdict } from '../latch/index.ts';
import { observeLive } from './settle.ts';
import {
  refKey,
  type DueLatch,
  type EventSink,
  type EventTarget,
  type GitState,
  type HpaObservation,
  type LatchMarker,
  type Leadership,
  type Located,
  type Lookup,
  type RefusedLatch,
  type WorkloadObservation,
  type WorkloadRef,
  type WriteResult,
} from './types.ts';

export interface EngineConfig {
  /** DESIGN §4 default 60 s */
  readonly settleUpMs: number;
  /** DESIGN §4 default 86400 s */
  readonly settleDownMs: number;
  /** latches due within this window go into one write (default 10 s) */
  readonly batchWindowMs: number;
  /** the policy defaults that annotations override (--ladder, --tolerance) */
  readonly defaults: PolicyDefaults;
  /** re-evaluate every workload this often, a backstop for the per-workload timers (default 15 s) */
  readonly tickMs?: number;
  /** fetch git this often to see human edits (default 60 s); a write always fetches first */
  readonly refreshMs?: number;
  /** backoff for failed writes and refreshes: base, doubling to max (default 1 s → 60 s) */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export interface EngineDeps {
  readonly git: GitState;
  readonly leadership: Leadership;
  readonly events: EventSink;
  readonly metrics: WatcherMetrics;
  /** sets kube-latch.io/latched on each workload after its latch was pushed; none: no marking */
  readonly marker?: LatchMarker;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

type Problem = 'invalid' | 'none' | 'ambiguous';

interface Tracked {
  obs: WorkloadObservation;
  settle: SettleState | undefined;
  verdict: Verdict | undefined;
  timer: TimerHandle | undefined;
  timerAt: number | undefined;
  problem: Problem | undefined;
  problemMessage: string | undefined;
  /** labels of this workload's kube_latch_watcher_unlocated_workload_info series, while it has one */
  problemSeries?: { workload: string; reason: string; candidates: string } | undefined;
}

/** What the engine currently thinks of one workload (for diagnostics and tests). */
export interface WorkloadStatus {
  readonly ref: WorkloadRef;
  readonly live: number;
  readonly verdict: Verdict | undefined;
  readonly problem: string | undefined;
  /** the latch waiting to be written, if any */
  readonly pending: number | undefined;
}

export class Engine {
  private readonly git: GitState;
  private readonly leadership: Leadership;
  private readonly events: EventSink;
  private readonly metrics: WatcherMetrics;
  private readonly marker: LatchMarker | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly cfg: Required<EngineConfig>;
  private readonly settleCfg: SettleConfig;

  private readonly tracked = new Map<string, Tracked>();
  private readonly hpas = new Map<string, HpaObservation>();
  /** `ns/group/Kind/name` of a scale target → keys of the HPAs that point at it */
  private readonly hpaByTarget = new Map<string, Set<string>>();
  private readonly pending = new Map<string, DueLatch>();
  private readonly inflight = new Map<string, DueLatch>();
  private readonly problemCounts: Record<Problem, number> = { invalid: 0, none: 0, ambiguous: 0 };
  /** which workloads resolve to which file:line: two on one place are both ambiguous */
  private readonly claims = new PlaceClaims();
  private readonly toReevaluate = new Set<string>();

  /** the last value this engine wrote per workload: git showing it is our edit, not a human's */
  private readonly written = new Map<string, number>();
  /** the last value this engine marked per workload: a sync marks each (workload, L) once at most */
  private readonly marked = new Map<string, number>();

  private ready = false;
  private running = false;
  private writing: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  /** serialises every call into GitState: refresh and write never overlap */
  private gitLock: Promise<unknown> = Promise.resolve();
  private flushTimer: TimerHandle | undefined;
  private tickTimer: TimerHandle | undefined;
  private refreshTimer: TimerHandle | undefined;
  private writeFailures = 0;
  private retryAt: number | undefined;
  private refreshFailures = 0;

  constructor(cfg: EngineConfig, deps: EngineDeps) {
    this.cfg = {
      tickMs: 15_000,
      refreshMs: 60_000,
      retryBaseMs: 1_000,
      retryMaxMs: 60_000,
      ...cfg,
    };
    this.settleCfg = { settleUp: cfg.settleUpMs, settleDown: cfg.settleDownMs };
    this.git = deps.git;
    this.leadership = deps.leadership;
    this.events = deps.events;
    this.metrics = deps.metrics;
    this.marker = deps.marker;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? createLogger('watcher');
    this.leadership.onChange((leader) => {
      this.metrics.leader.set(leader ? 1 : 0);
      if (leader) this.scheduleFlush();
      // A fresh leader has nothing pending: the markers a crashed one owed follow from git.
      if (leader && this.running && this.ready) void this.withGit(() => this.markFromGit());
    });
    this.metrics.leader.set(this.leadership.isLeader() ? 1 : 0);
  }

  // ---- lifecycle ----

  /** Loads git (retrying in the background if the remote is down) and starts the periodic loops. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.refresh();
    this.scheduleTick();
  }

  /** Stops timers and waits for a write in progress. Pending latches are not written. */
  async stop(): Promise<void> {
    this.running = false;
    for (const h of [this.flushTimer, this.tickTimer, this.refreshTimer]) if (h) this.clock.clearTimeout(h);
    this.flushTimer = this.tickTimer = this.refreshTimer = undefined;
    for (const t of this.tracked.values()) this.disarm(t);
    await this.writing;
    await this.refreshing;
    await this.gitLock;
  }

  private withGit<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gitLock.then(fn, fn);
    this.gitLock = run.catch(() => undefined);
    return run;
  }

  // ---- inputs (from informers) ----

  upsertWorkload(obs: WorkloadObservation): void {
    const key = refKey(obs.ref);
    const t = this.tracked.get(key);
    if (t) t.obs = obs;
    else
      this.tracked.set(key, {
        obs,
        settle: undefined,
        verdict: undefined,
        timer: undefined,
        timerAt: undefined,
        problem: undefined,
        problemMessage: undefined,
      });
    this.evaluate(key);
  }

  removeWorkload(ref: WorkloadRef): void {
    const key = refKey(ref);
    const t = this.tracked.get(key);
    if (!t) return;
    this.forget(key, t);
    this.setProblem(t, undefined, undefined);
    this.tracked.delete(key);
    this.written.delete(key);
    this.marked.delete(key);
    this.reevaluate(this.claims.claim(key, undefined));
  }

  upsertHpa(h: HpaObservation): void {
    const key = `${h.namespace}/${h.name}`;
    const old = this.hpas.get(key);
    if (old) this.unindexHpa(key, old);
    this.hpas.set(key, h);
    const tk = hpaTargetKey(h.namespace, h.target.apiVersion, h.target.kind, h.target.name);
    let set = this.hpaByTarget.get(tk);
    if (!set) this.hpaByTarget.set(tk, (set = new Set()));
    set.add(key);
    if (old) this.evaluateTarget(old);
    this.evaluateTarget(h);
  }

  removeHpa(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.hpas.get(key);
    if (!old) return;
    this.unindexHpa(key, old);
    this.hpas.delete(key);
    this.evaluateTarget(old);
  }

  /** Re-evaluates everything now (the periodic tick does this too). */
  evaluateAll(): void {
    for (const key of this.tracked.keys()) this.evaluate(key);
  }

  status(ref: WorkloadRef): WorkloadStatus | undefined {
    const key = refKey(ref);
    const t = this.tracked.get(key);
    if (!t) return undefined;
    return {
      ref: t.obs.ref,
      live: t.obs.replicas,
      verdict: t.verdict,
      problem: t.problemMessage,
      pending: (this.pending.get(key) ?? this.inflight.get(key))?.to,
    };
  }

  /** Latches due and not yet on the remote. */
  pendingLatches(): DueLatch[] {
    return [...this.inflight.values(), ...[...this.pending.entries()].filter(([k]) => !this.inflight.has(k)).map(([, v]) => v)];
  }

  // ---- evaluation ----

  private evaluate(key: string): void {
    const t = this.tracked.get(key);
    if (!t || !this.ready) return;
    const now = this.clock.now();
    const { obs } = t;

    const resolved = resolvePolicy(obs.annotations, this.cfg.defaults, this.hpaBounds(obs));
    if (!resolved.ok) {
      this.forget(key, t);
      this.setProblem(t, 'invalid', `kube-latch: invalid ${resolved.annotation}: ${resolved.message}; not latching`);
      return;
    }
    const policy = resolved.policy;

    const loc = this.lookup(obs);
    if (!loc.found) {
      this.forget(key, t);
      this.setProblem(t, loc.reason, unlocatedMessage(obs.ref, loc), loc.candidates);
      return;
    }
    this.setProblem(t, undefined, undefined);

    const gitDeclared = loc.declared ?? 1;
    if (!this.inflight.has(key)) this.reconcilePending(key, gitDeclared, policy);
    const intended = this.pending.get(key)?.to ?? this.inflight.get(key)?.to;
    const declared = intended ?? gitDeclared;

    const { state, verdict } = observeLive(t.settle, { now, v: obs.replicas, declared }, policy, this.settleCfg);
    t.settle = state;
    t.verdict = verdict;
    switch (verdict.kind) {
      case 'in-band':
        this.disarm(t);
        break;
      case 'settling':
        this.arm(key, t, verdict.dueAt);
        break;
      case 'held':
        this.arm(key, t, verdict.recheckAt);
        break;
      case 'due':
        this.disarm(t);
        this.due(key, t, loc, gitDeclared, verdict.to, policy, now);
        break;
    }
  }

  private due(key: string, t: Tracked, loc: Located, gitDeclared: number, to: number, policy: Policy, now: number): void {
    if (to === gitDeclared) {
      // Back to what git holds (a newer latch undoing a pending one): nothing to write.
      if (this.pending.delete(key)) this.updatePendingGauge();
      return;
    }
    const latch: DueLatch = {
      ref: t.obs.ref,
      live: t.obs.replicas,
      from: gitDeclared,
      band: band(gitDeclared, policy.tolerance),
      to,
      direction: to > gitDeclared ? 'up' : 'down',
      dueAt: now,
      location: loc,
      ...reasonFor(this.hpaOf(t.obs)),
    };
    this.pending.set(key, latch);
    this.updatePendingGauge();
    this.log.info(
      { workload: key, live: latch.live, from: latch.from, band: formatBand(latch.band), to, file: loc.file },
      'latch due',
    );
    this.scheduleFlush();
  }

  /**
   * A pending latch was computed against git's value at the time. If git now holds something else:
   * our own write landing under it → rebase onto it; anyone else's edit → drop it (their edit wins,
   * and settle starts over against the new value). Returns the latch to keep, if any.
   */
  private reconcilePending(key: string, inGit: number, policy: Pick<Policy, 'tolerance'>): DueLatch | undefined {
    const p = this.pending.get(key);
    if (!p) return undefined;
    if (inGit === p.to) {
      // Our push whose answer was lost, or a crash before the mark: the marker follows git all the same.
      this.log.info({ workload: key, value: p.to }, 'latch already in git; nothing to write');
      void this.markHeld(key, p.to);
    } else if (inGit === p.from) {
      return p;
    } else if (this.written.get(key) === inGit) {
      const rebased: DueLatch = { ...p, from: inGit, band: band(inGit, policy.tolerance), direction: p.to > inGit ? 'up' : 'down' };
      this.pending.set(key, rebased);
      return rebased;
    } else {
      this.log.info({ workload: key, git: inGit, dropped: p.to }, 'git changed under a pending latch; dropping it');
    }
    this.pending.delete(key);
    this.updatePendingGauge();
    return undefined;
  }

  /** git's location for the workload, ambiguous when another tracked workload resolves to the same place */
  private lookup(obs: WorkloadObservation): Lookup {
    const source = obs.annotations[ANNOTATIONS.source];
    const loc = this.git.lookup(source ? { ...obs.ref, source } : obs.ref);
    const key = refKey(obs.ref);
    const place = loc.found && loc.line !== undefined ? `${loc.file}:${loc.line}` : undefined;
    this.reevaluate(this.claims.claim(key, place));
    const others = this.claims.sharers(key);
    if (!place || others.length === 0) return loc;
    return { found: false, reason: 'ambiguous', candidates: [place], detail: `${place} is also the replicas line of ${others.join(', ')}` };
  }

  /** Re-evaluates workloads whose location problem another one changed, after the current evaluation. */
  private reevaluate(keys: readonly string[]): void {
    if (keys.length === 0) return;
    const first = this.toReevaluate.size === 0;
    for (const k of keys) this.toReevaluate.add(k);
    if (first) {
      queueMicrotask(() => {
        const all = [...this.toReevaluate];
        this.toReevaluate.clear();
        for (const k of all) this.evaluate(k);
      });
    }
  }

  /** Drops all per-workload latch state: a workload we cannot latch restarts settle when it can again. */
  private forget(key: string, t: Tracked): void {
    this.disarm(t);
    t.settle = undefined;
    t.verdict = undefined;
    if (this.pending.delete(key)) this.updatePendingGauge();
  }

  private arm(key: string, t: Tracked, at: number | undefined): void {
    if (at === undefined) return this.disarm(t);
    if (t.timer && t.timerAt === at) return;
    this.disarm(t);
    t.timerAt = at;
    t.timer = this.clock.setTimeout(() => {
      t.timer = undefined;
      t.timerAt = undefined;
      this.evaluate(key);
    }, at - this.clock.now());
  }

  private disarm(t: Tracked): void {
    if (t.timer) this.clock.clearTimeout(t.timer);
    t.timer = undefined;
    t.timerAt = undefined;
  }

  // ---- problems: Events, logs, metrics ----

  private setProblem(t: Tracked, problem: Problem | undefined, message: string | undefined, candidates: readonly string[] = []): void {
    if (t.problem !== problem || t.problemMessage !== message) {
      if (t.problemSeries) this.metrics.unlocatedInfo.remove(t.problemSeries);
      t.problemSeries = problem === 'none' || problem === 'ambiguous' ? { workload: refKey(t.obs.ref), reason: problem, candidates: listed(candidates) } : undefined;
      if (t.problemSeries) this.metrics.unlocatedInfo.set(t.problemSeries, 1);
      if (t.problem) this.problemCounts[t.problem]--;
      if (problem) this.problemCounts[problem]++;
      const key = refKey(t.obs.ref);
      if (problem) this.log.warn({ workload: key, problem, ...(candidates.length ? { candidates } : {}) }, message);
      else if (t.problem) this.log.info({ workload: key }, 'workload can be latched again');
      t.problem = problem;
      t.problemMessage = message;
      this.metrics.invalidPolicy.set(this.problemCounts.invalid);
      this.metrics.unlocated.set({ reason: 'none' }, this.problemCounts.none);
      this.metrics.unlocated.set({ reason: 'ambiguous' }, this.problemCounts.ambiguous);
    }
    // Every evaluation reports again; the recorder folds repeats into one Event with a count.
    // Only the leader records, so replicas do not double the Events.
    if (problem && message && this.leadership.isLeader()) {
      const reason = problem === 'invalid' ? 'InvalidLatchPolicy' : problem === 'none' ? 'LatchTargetNotFound' : 'LatchTargetAmbiguous';
      this.events.record(eventTarget(t.obs), { type: 'Warning', reason, message });
    }
  }

  // ---- HPA bounds ----

  private hpaBounds(obs: WorkloadObservation): { min?: number; max?: number } | undefined {
    const h = this.hpaOf(obs);
    return h ? { min: h.min, max: h.max } : undefined;
  }

  private hpaOf(obs: WorkloadObservation): HpaObservation | undefined {
    const set = this.hpaByTarget.get(hpaTargetKey(obs.ref.namespace, obs.apiVersion, obs.ref.kind, obs.ref.name));
    if (!set || set.size === 0) return undefined;
    // Two HPAs on one workload is a misconfiguration the HPA controller itself refuses; take the
    // first by name so the choice is stable.
    return this.hpas.get([...set].sort()[0]!);
  }

  private unindexHpa(key: string, h: HpaObservation): void {
    const tk = hpaTargetKey(h.namespace, h.target.apiVersion, h.target.kind, h.target.name);
    const set = this.hpaByTarget.get(tk);
    set?.delete(key);
    if (set?.size === 0) this.hpaByTarget.delete(tk);
  }

  private evaluateTarget(h: HpaObservation): void {
    const key = refKey({ namespace: h.namespace, kind: h.target.kind, name: h.target.name });
    const t = this.tracked.get(key);
    if (t && groupOf(t.obs.apiVersion) === groupOf(h.target.apiVersion)) this.evaluate(key);
  }

  // ---- batching and writing ----

  private scheduleFlush(): void {
    if (!this.running || this.flushTimer || this.writing || this.pending.size === 0) return;
    if (!this.leadership.isLeader()) return; // becoming leader schedules it
    const now = this.clock.now();
    let at: number;
    if (this.retryAt !== undefined) at = this.retryAt;
    else {
      let oldest = Infinity;
      for (const p of this.pending.values()) oldest = Math.min(oldest, p.dueAt);
      at = oldest + this.cfg.batchWindowMs;
    }
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      this.writing = this.flush().finally(() => {
        this.writing = undefined;
        this.scheduleFlush();
      });
    }, Math.max(0, at - now));
  }

  private async flush(): Promise<void> {
    if (this.pending.size === 0 || !this.leadership.isLeader()) return;
    await this.withGit(async () => {
      if (await this.flushLocked()) await this.markFromGit();
    });
  }

  /** Refreshes git and writes the batch; false when git could not even be fetched. */
  private async flushLocked(): Promise<boolean> {
    try {
      await this.git.refresh();
    } catch (err) {
      this.writeFailed('git fetch failed', err);
      return false;
    }
    this.ready = true;
    await this.writeBatch();
    return true;
  }

  private async writeBatch(): Promise<void> {
    // Revalidate against what the remote holds now.
    const batch: DueLatch[] = [];
    const dropped: string[] = [];
    for (const key of [...this.pending.keys()]) {
      const t = this.tracked.get(key);
      const loc = t ? this.lookup(t.obs) : undefined;
      const policy = t ? resolvePolicy(t.obs.annotations, this.cfg.defaults, this.hpaBounds(t.obs)) : undefined;
      const kept = loc?.found && policy?.ok ? this.reconcilePending(key, loc.declared ?? 1, policy.policy) : undefined;
      if (kept && loc?.found) batch.push({ ...kept, location: loc });
      else dropped.push(key);
    }
    this.pending.clear();
    for (const b of batch) this.inflight.set(refKey(b.ref), b);
    this.updatePendingGauge();
    for (const key of dropped) this.evaluate(key);
    if (batch.length === 0) return;

    let result: WriteResult;
    try {
      result = await this.git.write(batch, { mayPush: () => this.leadership.isLeader() });
    } catch (err) {
      result = { ok: false, error: (err as Error).message };
    }
    if (result.ok) {
      this.writeFailures = 0;
      this.retryAt = undefined;
      this.inflight.clear();
      for (const l of [...result.written, ...result.unchanged]) this.written.set(refKey(l.ref), l.to);
      for (const r of result.refused ?? []) this.refused(r);
      for (const l of result.written) {
        this.metrics.latches.inc({ direction: l.direction });
        const t = this.tracked.get(refKey(l.ref));
        if (t) {
          this.events.record(eventTarget(t.obs), {
            type: 'Normal',
            reason: 'LatchWritten',
            message: `kube-latch: git replicas ${l.from} → ${l.to} (live ${l.live}, band ${formatBand(l.band)})${result.revision ? ` in ${result.revision}` : ''}`,
          });
        }
      }
      for (const n of result.notices ?? []) {
        const t = this.tracked.get(refKey(n.ref));
        if (t) this.events.record(eventTarget(t.obs), { type: n.type, reason: n.reason, message: n.message });
        this.log.info({ workload: refKey(n.ref), reason: n.reason }, n.message);
      }
      if (result.written.length > 0) {
        this.metrics.lastPush.set(this.clock.now() / 1000);
        this.metrics.commits.inc();
      }
      await this.markLatched(result.written);
      await Promise.all(result.unchanged.map((l) => this.markHeld(refKey(l.ref), l.to)));
      await this.unmarkWithdrawn(result.withdrawn ?? []);
      this.log.info(
        { written: result.written.length, unchanged: result.unchanged.length, revision: result.revision },
        result.written.length > 0 ? 'latches written to git' : 'latches were already in git',
      );
    } else {
      this.requeue();
      if (result.notLeader) this.log.warn({ latches: batch.length }, 'lost leadership before the push; latches stay pending');
      else this.writeFailed('git write failed', new Error(result.error));
    }
    this.updatePendingGauge();
    for (const b of batch) this.evaluate(refKey(b.ref));
  }

  /** A latch the write did not make: a metric, a log line, and an Event unless git merely moved under it. */
  private refused(r: RefusedLatch): void {
    const key = refKey(r.latch.ref);
    this.metrics.latchesNotWritten.inc({ outcome: r.outcome });
    const fields = { workload: key, outcome: r.outcome, from: r.latch.from, to: r.latch.to, candidates: r.candidates };
    // git moving under a latch is routine; a rejected latch already has its notice (LatchRejected)
    if (r.outcome === 'stale' || r.outcome === 'rejected') return this.log.info(fields, `latch not written: ${r.reason}`);
    this.log.warn(fields, `latch not written: ${r.reason}`);
    const t = this.tracked.get(key);
    if (!t) return;
    const message =
      r.outcome === 'error'
        ? `kube-latch: git replicas ${r.latch.from} → ${r.latch.to} not written: ${r.reason}`
        : unlocatedMessage(r.latch.ref, { found: false, reason: r.outcome === 'ambiguous' ? 'ambiguous' : 'none', candidates: r.candidates, detail: r.reason });
    const reason = r.outcome === 'error' ? 'LatchNotWritten' : r.outcome === 'ambiguous' ? 'LatchTargetAmbiguous' : 'LatchTargetNotFound';
    this.events.record(eventTarget(t.obs), { type: 'Warning', reason, message });
  }

  /** After a push: the latched marker on each workload written (DESIGN §4), so the webhook knows git's next L. */
  private async markLatched(written: readonly DueLatch[]): Promise<void> {
    await Promise.all(written.map((l) => this.mark(refKey(l.ref), l.to)));
  }

  /** Marks L on a tracked workload, and remembers it so that a sync does not mark it again. */
  private async mark(key: string, to: number): Promise<void> {
    const t = this.tracked.get(key);
    if (!this.marker || !t) return;
    this.marked.set(key, to);
    await this.marker.mark(eventTarget(t.obs), to);
  }

  /**
   * git (or the open proposal) already holds L: the marker is set all the same (DESIGN §4), but only
   * when the workload shows neither L as its marker nor L as declared by an apply (then git caught up).
   */
  private async markHeld(key: string, to: number): Promise<void> {
    const t = this.tracked.get(key);
    if (t && !shows(t.obs, to)) await this.mark(key, to);
  }

  /**
   * After a sync, with nothing pending (a restart, a fresh leader, a crash between push and mark): a
   * workload whose git value L is neither its marker nor its declared value is marked L, but only when L
   * is kube-latch's own latch (the newest commit to its file is ours and proposes exactly L for it). A
   * human's edit is never marked: the webhook must apply it, not keep live. Once per (workload, L); git is
   * asked once per file, and only about workloads whose annotations disagree with it.
   */
  private async markFromGit(): Promise<void> {
    const git = this.git;
    if (!this.marker || !git.ownLatches || !this.leadership.isLeader()) return;
    const byFile = new Map<string, { key: string; to: number }[]>();
    for (const [key, t] of this.tracked) {
      if (t.problem) continue;
      const loc = this.lookup(t.obs);
      if (!loc.found || loc.declared === null || this.marked.get(key) === loc.declared || shows(t.obs, loc.declared)) continue;
      byFile.set(loc.file, [...(byFile.get(loc.file) ?? []), { key, to: loc.declared }]);
    }
    for (const [file, wanted] of byFile) {
      let own: readonly { ref: WorkloadRef; to: number }[];
      try {
        own = await git.ownLatches(file);
      } catch (err) {
        this.log.warn({ file, err: (err as Error).message }, 'cannot read the last commit of the file; its markers wait for the next sync');
        continue;
      }
      for (const w of wanted) {
        if (!own.some((o) => refKey(o.ref) === w.key && o.to === w.to) || !this.leadership.isLeader()) continue;
        this.log.info({ workload: w.key, value: w.to }, 'git holds our latch unmarked; marking it');
        await this.markHeld(w.key, w.to);
      }
    }
  }

  /**
   * pr mode, on the refresh cadence: the cluster's PR closed unmerged while nothing falls due would keep
   * its markers until the next write; the provider is asked here instead, while some workload shows one.
   */
  private async unmarkClosed(): Promise<void> {
    const git = this.git;
    if (!this.marker || !git.withdrawn || !this.leadership.isLeader()) return;
    if (![...this.tracked.values()].some((t) => t.obs.annotations[ANNOTATIONS.latched] !== undefined)) return;
    try {
      await this.unmarkWithdrawn(await git.withdrawn());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot read how the last PR ended; its markers wait for the next refresh');
    }
  }

  /** A proposal closed unmerged: the markers that still show its values are removed. */
  private async unmarkWithdrawn(withdrawn: readonly { ref: WorkloadRef; to: number }[]): Promise<void> {
    if (!this.marker) return;
    const marker = this.marker;
    await Promise.all(
      withdrawn.map((w) => {
        const key = refKey(w.ref);
        const t = this.tracked.get(key);
        if (!t || t.obs.annotations[ANNOTATIONS.latched] !== String(w.to)) return Promise.resolve();
        if (this.marked.get(key) === w.to) this.marked.delete(key);
        return marker.unmark(eventTarget(t.obs));
      }),
    );
  }

  /** Puts in-flight latches back, unless a newer one for the same workload fell due meanwhile. */
  private requeue(): void {
    for (const [key, l] of this.inflight) if (!this.pending.has(key)) this.pending.set(key, l);
    this.inflight.clear();
  }

  private writeFailed(what: string, err: unknown): void {
    this.metrics.pushFailures.inc();
    const delay = Math.min(this.cfg.retryBaseMs * 2 ** this.writeFailures, this.cfg.retryMaxMs);
    this.writeFailures++;
    this.retryAt = this.clock.now() + delay;
    this.log.warn({ err: (err as Error).message, retryInMs: delay, pending: this.pending.size }, what);
  }

  private updatePendingGauge(): void {
    let n = this.inflight.size;
    for (const k of this.pending.keys()) if (!this.inflight.has(k)) n++;
    this.metrics.pending.set(n);
  }

  // ---- periodic loops ----

  private scheduleTick(): void {
    if (!this.running) return;
    this.tickTimer = this.clock.setTimeout(() => {
      this.tickTimer = undefined;
      this.evaluateAll();
      this.scheduleFlush();
      this.scheduleTick();
    }, this.cfg.tickMs);
  }

  /** Fetches git, then re-evaluates everything; retries with backoff while the remote is down. */
  private async refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      let delay = this.cfg.refreshMs;
      try {
        await this.withGit(() => this.git.refresh());
        if (this.refreshFailures > 0) this.log.info({}, 'git is reachable again');
        this.refreshFailures = 0;
        this.ready = true;
        this.evaluateAll();
        await this.withGit(async () => {
          await this.unmarkClosed();
          await this.markFromGit();
        });
      } catch (err) {
        delay = Math.min(this.cfg.retryBaseMs * 2 ** this.refreshFailures, this.cfg.retryMaxMs, this.cfg.refreshMs);
        this.refreshFailures++;
        this.log.warn({ err: (err as Error).message, retryInMs: delay, ready: this.ready }, 'git fetch failed');
      }
      if (this.running) {
        this.refreshTimer = this.clock.setTimeout(() => {
          this.refreshTimer = undefined;
          void this.refresh();
        }, delay);
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }
}

function reasonFor(h: HpaObservation | undefined): { reason?: string } {
  return h?.reason === undefined ? {} : { reason: h.reason };
}

function hpaTargetKey(namespace: string, apiVersion: string, kind: string, name: string): string {
  return `${namespace}/${groupOf(apiVersion)}/${kind}/${name}`;
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** The workload already shows L as its marker, or as declared by an apply (git caught up). */
function shows(obs: WorkloadObservation, l: number): boolean {
  return obs.annotations[ANNOTATIONS.latched] === String(l) || obs.annotations[ANNOTATIONS.declared] === String(l);
}

function eventTarget(obs: WorkloadObservation): EventTarget {
  return { apiVersion: obs.apiVersion, kind: obs.ref.kind, namespace: obs.ref.namespace, name: obs.ref.name, ...(obs.uid ? { uid: obs.uid } : {}) };
}

const MAX_CANDIDATES_IN_MESSAGE = 8;

export function unlocatedMessage(ref: WorkloadRef, loc: Extract<Lookup, { found: false }>): string {
  const name = refKey(ref);
  const detail = loc.detail ? ` (${loc.detail})` : '';
  if (loc.reason === 'none') {
    return `kube-latch: no replicas line for ${name} in git: no marker, source annotation or manifest matched${detail}; nothing written`;
  }
  if (loc.candidates.length <= 1) {
    // One place that cannot be written as it stands (DESIGN §4): the detail says why, naming file:line.
    const at = loc.candidates[0];
    const why = loc.detail ?? 'not one plain replicas value';
    return `kube-latch: the replicas location of ${name} in git is ambiguous: ${at && !why.includes(at) ? `${at}: ` : ''}${why}; nothing written`;
  }
  return `kube-latch: ${loc.candidates.length} places in git declare ${name}: ${listed(loc.candidates)}${detail}; nothing written`;
}

/** At most 8 places, then "and N more": for the Event message and the metric label alike. */
function listed(candidates: readonly string[]): string {
  const shown = candidates.slice(0, MAX_CANDIDATES_IN_MESSAGE).join(', ');
  const more = candidates.length > MAX_CANDIDATES_IN_MESSAGE ? ` and ${candidates.length - MAX_CANDIDATES_IN_MESSAGE} more` : '';
  return shown + more;
}
