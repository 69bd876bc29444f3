// How many bytes of request bodies the webhook holds at once. A body is reserved by its announced
// Content-Length before any of it is read (a chunked body grows its reservation as it arrives), so a client
// that announces 3 MiB and stalls holds its share of the budget, never more memory than the budget allows.
// Bodies over LARGE_BODY_BYTES together get at most half of the budget: a flood of large stalled bodies
// leaves the other half to ordinary reviews, which are tens of KiB.

/** A body larger than this counts against the large half of the budget. */
export const LARGE_BODY_BYTES = 1024 * 1024;

export interface BodyReservation {
  /** bytes this body holds now */
  readonly bytes: number;
  /** raises the reservation to `total` bytes; false (reservation unchanged) when the budget cannot hold it */
  grow(total: number): boolean;
  /** gives the bytes back; idempotent */
  release(): void;
}

export interface BodyBudget {
  /** bytes reserved now, over all bodies */
  readonly used: number;
  /** bytes reserved now by bodies over LARGE_BODY_BYTES */
  readonly usedLarge: number;
  readonly limit: number;
  /** a reservation of `bytes`, or undefined when the budget cannot hold it */
  reserve(bytes: number): BodyReservation | undefined;
}

export function createBodyBudget(limit: number): BodyBudget {
  const largeLimit = Math.floor(limit / 2);
  let used = 0;
  let usedLarge = 0;
  const large = (n: number) => (n > LARGE_BODY_BYTES ? n : 0);
  const fits = (from: number, to: number) =>
    used - from + to <= limit && (to <= LARGE_BODY_BYTES || usedLarge - large(from) + to <= largeLimit);
  const move = (from: number, to: number) => {
    used += to - from;
    usedLarge += large(to) - large(from);
  };

  return {
    get used() {
      return used;
    },
    get usedLarge() {
      return usedLarge;
    },
    limit,
    reserve(bytes) {
      if (!fits(0, bytes)) return undefined;
      move(0, bytes);
      let held = bytes;
      let released = false;
      return {
        get bytes() {
          return released ? 0 : held;
        },
        grow(total) {
          if (released) return false;
          if (total <= held) return true;
          if (!fits(held, total)) return false;
          move(held, total);
          held = total;
          return true;
        },
        release() {
          if (released) return;
          released = true;
          move(held, 0);
        },
      };
    },
  };
}
