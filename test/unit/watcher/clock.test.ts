// Issue 12 §4: node fires a setTimeout of more than 2^31-1 ms (about 24.8 days) at once. systemClock
// chains such a timer instead, so a 30-day settle-down never turns into an immediate fire that a
// re-arming caller would repeat in a busy loop. Driven with fake node timers: no waiting, no clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSystemClock, MAX_TIMER_MS, type NodeTimers } from '../../../src/watcher/clock.ts';

/** Node's timer functions, simulated: records every delay asked for, fires on run(). */
function fakeTimers() {
  let now = 1_000;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  const timers: NodeTimers = {
    now: () => now,
    setTimeout(fn, ms) {
      delays.push(ms);
      const id = ++seq;
      pending.set(id, { at: now + ms, fn });
      return { id, unref: () => undefined };
    },
    clearTimeout(t) {
      pending.delete((t as { id: number }).id);
    },
  };
  /** fires the earliest pending timer, moving time to it */
  const step = (): boolean => {
    const next = [...pending.entries()].sort((a, b) => a[1].at - b[1].at)[0];
    if (!next) return false;
    pending.delete(next[0]);
    now = next[1].at;
    next[1].fn();
    return true;
  };
  return { timers, delays, step, pending, now: () => now };
}

const DAY_MS = 86_400_000;

test('a delay node can hold is one node timer, as asked', () => {
  const f = fakeTimers();
  const clock = createSystemClock(f.timers);
  let fired = 0;
  clock.setTimeout(() => fired++, 60_000);
  assert.deepEqual(f.delays, [60_000]);
  f.step();
  assert.equal(fired, 1);
});

for (const days of [24.9, 30]) {
  test(`a ${days}-day timer never asks node for more than 2^31-1 ms, and fires once, at its deadline`, () => {
    const f = fakeTimers();
    const clock = createSystemClock(f.timers);
    const start = f.now();
    const ms = days * DAY_MS;
    let firedAt: number | undefined;
    let fired = 0;
    clock.setTimeout(() => {
      fired++;
      firedAt = f.now();
    }, ms);
    let steps = 0;
    while (f.step()) steps++;
    assert.ok(f.delays.every((d) => d >= 0 && d <= MAX_TIMER_MS), `delays: ${f.delays.join(', ')}`);
    assert.equal(fired, 1);
    assert.equal(firedAt, start + ms);
    assert.equal(steps, 2, 'one re-arm, then the timer itself');
  });
}

test('clearing a chained timer stops it, whichever link is pending', () => {
  const f = fakeTimers();
  const clock = createSystemClock(f.timers);
  let fired = 0;
  const h = clock.setTimeout(() => fired++, 60 * DAY_MS);
  f.step(); // first link
  clock.clearTimeout(h);
  assert.equal(f.pending.size, 0);
  while (f.step());
  assert.equal(fired, 0);
});

test('a delay that is not a number is refused, not fired at once', () => {
  const clock = createSystemClock(fakeTimers().timers);
  for (const bad of [NaN, Infinity]) assert.throws(() => clock.setTimeout(() => undefined, bad), RangeError);
  const f = fakeTimers();
  createSystemClock(f.timers).setTimeout(() => undefined, -5);
  assert.deepEqual(f.delays, [0], 'a negative delay is 0');
});
