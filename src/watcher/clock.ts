// An injectable clock, so settle timers, batching, backoff and lease deadlines are testable without waiting.
// Times are milliseconds since the epoch.

export type TimerHandle = { readonly id: number } | ReturnType<typeof setTimeout>;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node's longest timer: a setTimeout over 2^31-1 ms fires at once (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The node timer functions systemClock runs on; replaced in tests of the overflow guard. */
export interface NodeTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): { unref(): unknown };
  clearTimeout(t: unknown): void;
}

const nodeTimers: NodeTimers = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>) };

/** A timer longer than MAX_TIMER_MS: re-armed in steps of at most MAX_TIMER_MS until its deadline. */
class LongTimer {
  readonly id = -1;
  current: unknown;
}

/**
 * Wall clock and node timers; timers are unref'd so they never keep a finished process alive. A delay
 * that node cannot hold (over 2^31-1 ms, about 24.8 days; settle-down may be 30) is chained instead of
 * overflowing into an immediate fire, which a re-arming caller would turn into a busy loop. A delay that
 * is not a number is a bug, refused with a RangeError rather than fired at once.
 */
export function createSystemClock(timers: NodeTimers = nodeTimers): Clock {
  return {
    now: () => timers.now(),
    setTimeout(fn, ms) {
      if (Number.isNaN(ms) || ms === Infinity) throw new RangeError(`timer delay must be a finite number of milliseconds, got ${ms}`);
      const delay = Math.max(0, ms);
      if (delay <= MAX_TIMER_MS) {
        const t = timers.setTimeout(fn, delay);
        t.unref();
        return t as TimerHandle;
      }
      const long = new LongTimer();
      const deadline = timers.now() + delay;
      const arm = () => {
        const left = deadline - timers.now();
        const t = left > MAX_TIMER_MS ? timers.setTimeout(arm, MAX_TIMER_MS) : timers.setTimeout(fn, Math.max(0, left));
        t.unref();
        long.current = t;
      };
      arm();
      return long;
    },
    clearTimeout(handle) {
      timers.clearTimeout(handle instanceof LongTimer ? handle.current : handle);
    },
  };
}

export const systemClock: Clock = createSystemClock();

interface ManualTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to. advance() fires due timers in time order (ties in creation
 * order), and lets pending promise callbacks run after each one, so async code driven by timers makes
 * progress as it would in real time.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), seq: this.seq, fn };
    this.timers.push(timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as { id: number }).id;
    this.timers = this.timers.filter((x) => x.id !== id);
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves time to t without firing anything; timers now due fire on the next advance(). For replays
   * in which an input and a timer share an instant and the input must come first.
   */
  jumpTo(t: number): void {
    if (t < this.t) throw new RangeError('time does not go back');
    this.t = t;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next: ManualTimer | undefined;
      for (const x of this.timers) if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/**
 * Lets queued promise callbacks run. Each macrotask turn drains every microtask chain, so a few turns
 * cover async code that itself waits on timers-free I/O stand-ins.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
