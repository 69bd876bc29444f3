import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseConflictError, type LeaseRecord, type LeaseStore } from '../../../src/kube/lease.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';
import { LeaderElector } from '../../../src/watcher/leader.ts';
import { silent } from './fakes.ts';

/** One Lease with compare-and-swap on resourceVersion, seen by several candidates. */
class SharedLease {
  record: LeaseRecord | undefined;
  private rv = 0;
  writes = 0;
  view(): LeaseStore & { mode: 'ok' | 'fail' | 'hang'; hold: Promise<void> | undefined } {
    const gate = async <T>(fn: () => T): Promise<T> => {
      if (store.hold) await store.hold;
      if (store.mode === 'hang') return new Promise<T>(() => {});
      if (store.mode === 'fail') throw new Error('connection refused');
      return fn();
    };
    const store = {
      mode: 'ok' as 'ok' | 'fail' | 'hang',
      hold: undefined as Promise<void> | undefined,
      description: 'kube-system/kube-latch',
      get: () => gate(() => (this.record ? { ...this.record } : undefined)),
      create: (r: LeaseRecord) =>
        gate(() => {
          if (this.record) throw new LeaseConflictError('exists');
          this.record = { ...r, resourceVersion: String(++this.rv) };
          this.writes++;
          return { ...this.record };
        }),
      update: (r: LeaseRecord) =>
        gate(() => {
          if (!this.record || r.resourceVersion !== this.record.resourceVersion) throw new LeaseConflictError('conflict');
          this.record = { ...r, resourceVersion: String(++this.rv) };
          this.writes++;
          return { ...this.record };
        }),
    };
    return store;
  }
}

const S = 1000;

function candidate(lease: SharedLease, clock: ManualClock, identity: string) {
  const store = lease.view();
  const changes: boolean[] = [];
  const el = new LeaderElector(store, { identity, clock, logger: silent });
  el.onChange((l) => changes.push(l));
  return { el, store, changes };
}

/** Advances in small steps and checks that two replicas never both believe they lead. */
async function run(clock: ManualClock, ms: number, els: LeaderElector[]): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    await clock.advance(100);
    assert.ok(els.filter((e) => e.isLeader()).length <= 1, `two leaders at ${clock.now()}`);
  }
}

test('leader: a lone candidate creates the Lease, leads, and renews every retry period', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  a.el.start();
  await clock.advance(0);
  assert.equal(a.el.isLeader(), true);
  assert.deepEqual(a.changes, [true]);
  assert.equal(lease.record?.holder, 'a');
  assert.equal(lease.record?.leaseDurationSeconds, 15);
  const writes = lease.writes;
  await clock.advance(20 * S);
  assert.equal(lease.writes - writes, 10, 'one renew per 2 s');
  assert.equal(lease.record?.renewTime, clock.now());
  assert.equal(lease.record?.leaseTransitions, 0);
  await a.el.stop();
});

test('leader: two candidates → exactly one leader, never two at once', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  const b = candidate(lease, clock, 'b');
  a.el.start();
  b.el.start();
  await run(clock, 60 * S, [a.el, b.el]);
  assert.equal([a.el, b.el].filter((e) => e.isLeader()).length, 1);
  assert.deepEqual(b.changes, []);
  await a.el.stop();
  await b.el.stop();
});

test('leader: a graceful stop releases the Lease; the standby takes over within a retry period', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  const b = candidate(lease, clock, 'b');
  a.el.start();
  await clock.advance(0);
  b.el.start();
  await run(clock, 10 * S, [a.el, b.el]);
  assert.equal(a.el.isLeader(), true);
  await a.el.stop();
  assert.equal(a.el.isLeader(), false);
  assert.equal(lease.record?.holder, '');
  await run(clock, 2 * S, [a.el, b.el]);
  assert.equal(b.el.isLeader(), true);
  assert.equal(lease.record?.leaseTransitions, 1);
  await b.el.stop();
});

test('leader: a leader that dies is replaced after the lease duration, and stopped writing before', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  const b = candidate(lease, clock, 'b');
  a.el.start();
  await clock.advance(0);
  b.el.start();
  await run(clock, 5 * S, [a.el, b.el]);
  const diedAt = clock.now();
  a.store.mode = 'hang'; // its requests never return: a frozen or partitioned process
  let aStopped: number | undefined;
  let bLeads: number | undefined;
  for (let i = 0; i < 300 && bLeads === undefined; i++) {
    await run(clock, 100, [a.el, b.el]);
    if (aStopped === undefined && !a.el.isLeader()) aStopped = clock.now();
    if (b.el.isLeader()) bLeads = clock.now();
  }
  assert.ok(aStopped !== undefined && bLeads !== undefined);
  assert.ok(aStopped - diedAt <= 10 * S, `old leader stops within the renew deadline (${aStopped - diedAt} ms)`);
  assert.ok(bLeads - diedAt <= 15 * S + 2 * S + 100, `new leader within lease duration + retry (${bLeads - diedAt} ms)`);
  assert.ok(bLeads - diedAt >= 10 * S, 'not before the old lease could have expired');
  assert.deepEqual(a.changes, [true, false]);
  a.store.mode = 'ok';
  const stopping = a.el.stop(); // waits for its hung request to time out
  await clock.advance(10 * S);
  await stopping;
  await b.el.stop();
});

test('leader: failing renewals step down at the renew deadline, and leadership returns when they succeed', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  a.el.start();
  await clock.advance(0);
  await clock.advance(3 * S); // last successful renew at +2 s
  a.store.mode = 'fail';
  await clock.advance(8900);
  assert.equal(a.el.isLeader(), true, 'failed renews are not proof of loss before the deadline');
  await clock.advance(100); // +12 s: 10 s since the last renew
  assert.equal(a.el.isLeader(), false);
  assert.deepEqual(a.changes, [true, false]);
  a.store.mode = 'ok';
  await clock.advance(2 * S);
  assert.equal(a.el.isLeader(), true, 'nobody else took it: renewed and leading again');
  assert.deepEqual(a.changes, [true, false, true]);
  await a.el.stop();
});

test('leader: a Lease held by someone else is respected until it has not changed for its duration', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  // someone else, with a clock far in the past: their renewTime means nothing to us
  lease.record = { holder: 'other', leaseDurationSeconds: 15, renewTime: 0, acquireTime: 0, leaseTransitions: 4, resourceVersion: '77' };
  const a = candidate(lease, clock, 'a');
  a.el.start();
  await clock.advance(14 * S);
  assert.equal(a.el.isLeader(), false);
  await clock.advance(4 * S);
  assert.equal(a.el.isLeader(), true);
  assert.equal(lease.record?.leaseTransitions, 5);
  await a.el.stop();
});

test('leader: a stop during a renew in flight still releases the Lease', async () => {
  const clock = new ManualClock();
  const lease = new SharedLease();
  const a = candidate(lease, clock, 'a');
  a.el.start();
  await clock.advance(0);
  let open!: () => void;
  a.store.hold = new Promise<void>((r) => (open = r));
  await clock.advance(2 * S); // the next renew starts and waits
  const stopping = a.el.stop();
  assert.equal(a.el.isLeader(), false, 'no push may start once stop() is called');
  a.store.hold = undefined;
  open();
  await stopping;
  assert.equal(lease.record?.holder, '');
  assert.deepEqual(a.changes, [true, false]);
});

test('leader: rejects timings where a leader could outlive its lease', () => {
  const store = new SharedLease().view();
  assert.throws(() => new LeaderElector(store, { identity: 'a', leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }), /renew deadline < lease duration/);
  assert.throws(() => new LeaderElector(store, { identity: 'a', retryPeriodMs: 10_000 }), /retry period < renew deadline/);
});
