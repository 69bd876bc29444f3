// The watcher's call into the one settle rule (src/latch/settle.ts). The informers report every change
// of v, so the value before this observation was live until the millisecond before it: the peak window
// counts a value that held into the window even when it was first seen before it. (`simulate` counts
// trace rows only, as DESIGN §6 says; on a regular grid the two agree.) Times are milliseconds.
import { liveUntil, observe, type Observation, type Policy, type SettleConfig, type SettleState, type Verdict } from '../latch/index.ts';

export function observeLive(prev: SettleState | undefined, o: Observation, policy: Policy, cfg: SettleConfig): { state: SettleState; verdict: Verdict } {
  return observe(prev && liveUntil(prev, o.now - 1), o, policy, cfg);
}
