// Leader election over a coordination.k8s.io/v1 Lease, after client-go's leaderelection:
// - every retry period, read the Lease; take it if it is free, ours, or expired; renew it if ours;
// - "expired" is judged by our own clock from when we last saw the record change (observedAt), never
//   by the holder's renewTime, so clock skew between nodes cannot hand the lease to two replicas;
// - a leader is a leader only while its last successful renew (timed from before the request was
//   sent) is younger than the renew deadline, which is shorter than the lease duration. isLeader()
//   checks that at the moment it is called, so a push guarded by it stops even if the renew loop is
//   stuck in a hung request.
import type { Logger } from '../log.ts';
import { LeaseConflictError, type LeaseRecord, type LeaseStore } from '../kube/lease.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import type { Leadership } from './types.ts';

export interface LeaderConfig {
  /** unique per replica: pod name plus a random suffix */
  readonly identity: string;
  /** how long a lease lasts without renewal (default 15 s) */
  readonly leaseDurationMs?: number;
  /** a leader that has not renewed for this long stops writing (default 10 s) */
  readonly renewDeadlineMs?: number;
  /** time between attempts (default 2 s) */
  readonly retryPeriodMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export const LEADER_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 } as const;

export class LeaderElector implements Leadership {
  readonly identity: string;
  private readonly store: LeaseStore;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  private readonly listeners: Array<(leader: boolean) => void> = [];

  private leading = false;
  private lastRenewAt = -Infinity;
  private observed: { key: string; at: number } | undefined;
  private timer: TimerHandle | undefined;
  private deadlineTimer: TimerHandle | undefined;
  private running = false;
  private cycleDone: Promise<void> = Promise.resolve();

  constructor(store: LeaseStore, cfg: LeaderConfig) {
    this.store = store;
    this.identity = cfg.identity;
    this.leaseDurationMs = cfg.leaseDurationMs ?? LEADER_DEFAULTS.leaseDurationMs;
    this.renewDeadlineMs = cfg.renewDeadlineMs ?? LEADER_DEFAULTS.renewDeadlineMs;
    this.retryPeriodMs = cfg.retryPeriodMs ?? LEADER_DEFAULTS.retryPeriodMs;
    this.clock = cfg.clock ?? systemClock;
    this.log = cfg.logger;
    if (!(this.retryPeriodMs < this.renewDeadlineMs && this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new RangeError('leader election needs retry period < renew deadline < lease duration');
    }
    if (this.leaseDurationMs % 1000 !== 0) throw new RangeError('lease duration must be whole seconds');
  }

  isLeader(): boolean {
    return this.leading && this.clock.now() - this.lastRenewAt < this.renewDeadlineMs;
  }

  onChange(cb: (leader: boolean) => void): void {
    this.listeners.push(cb);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning and, if leading, releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.setLeading(false); // before anything else: no push may start from here on
    await this.cycleDone;
    // Release whenever the Lease names us (release() reads it first), also if the cycle that was in
    // flight renewed it just now.
    await this.release();
  }

  private schedule(ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.cycleDone = this.cycle();
    }, ms);
  }

  private async cycle(): Promise<void> {
    try {
      const ok = await withTimeout(this.clock, this.tryAcquireOrRenew(), this.renewDeadlineMs, 'lease request timed out');
      if (!ok && this.leading) this.setLeading(false);
    } catch (err) {
      this.log?.warn({ lease: this.store.description, err: (err as Error).message }, 'lease request failed');
      // A failed renew is not proof of loss; the renew deadline decides (see isLeader and the timer).
      if (this.leading && !this.isLeader()) this.setLeading(false);
    }
    if (this.running) this.schedule(this.retryPeriodMs);
  }

  /** One round. True when we hold the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const startedAt = this.clock.now();
    const rec = await this.store.get();
    if (!this.running) return false;
    if (!rec) {
      try {
        await this.store.create(this.record(undefined, startedAt));
      } catch (err) {
        if (err instanceof LeaseConflictError) return false;
        throw err;
      }
      this.renewed(startedAt);
      return true;
    }
    const key = `${rec.holder}|${rec.renewTime ?? ''}|${rec.resourceVersion ?? ''}`;
    if (this.observed?.key !== key) this.observed = { key, at: this.clock.now() };
    const heldByOther = rec.holder !== '' && rec.holder !== this.identity;
    if (heldByOther && this.observed.at + rec.leaseDurationSeconds * 1000 > this.clock.now()) return false;
    try {
      await this.store.update(this.record(rec, startedAt));
    } catch (err) {
      if (err instanceof LeaseConflictError) return false;
      throw err;
    }
    this.renewed(startedAt);
    return true;
  }

  private record(prev: LeaseRecord | undefined, now: number): LeaseRecord {
    const ours = prev?.holder === this.identity;
    return {
      holder: this.identity,
      leaseDurationSeconds: this.leaseDurationMs / 1000,
      acquireTime: ours ? (prev.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: prev ? (ours ? prev.leaseTransitions : prev.leaseTransitions + 1) : 0,
      ...(prev?.resourceVersion ? { resourceVersion: prev.resourceVersion } : {}),
    };
  }

  private renewed(at: number): void {
    this.lastRenewAt = at;
    if (this.deadlineTimer) this.clock.clearTimeout(this.deadlineTimer);
    // Flip to follower when the deadline passes without a renew, even if a request hangs.
    this.deadlineTimer = this.clock.setTimeout(() => {
      this.deadlineTimer = undefined;
      if (this.leading && !this.isLeader()) {
        this.log?.warn({ lease: this.store.description }, 'could not renew the lease before the deadline; stepping down');
        this.setLeading(false);
      }
    }, at + this.renewDeadlineMs - this.clock.now());
    if (!this.leading && this.running) this.setLeading(true);
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (!leading && this.deadlineTimer) {
      this.clock.clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    this.log?.info({ lease: this.store.description, identity: this.identity, leader: leading }, leading ? 'became leader' : 'no longer leader');
    for (const cb of this.listeners) {
      try {
        cb(leading);
      } catch (err) {
        this.log?.error({ err: (err as Error).message }, 'leadership listener failed');
      }
    }
  }

  private async release(): Promise<void> {
    try {
      const rec = await withTimeout(this.clock, this.store.get(), this.renewDeadlineMs, 'lease read timed out');
      if (!rec || rec.holder !== this.identity) return;
      const now = this.clock.now();
      await withTimeout(
        this.clock,
        this.store.update({ ...rec, holder: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now }),
        this.renewDeadlineMs,
        'lease release timed out',
      );
      this.log?.info({ lease: this.store.description }, 'released the lease');
    } catch (err) {
      this.log?.warn({ lease: this.store.description, err: (err as Error).message }, 'could not release the lease; it expires on its own');
    }
  }
}

function withTimeout<T>(clock: Clock, p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: TimerHandle | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    if (timer) clock.clearTimeout(timer);
  });
}
