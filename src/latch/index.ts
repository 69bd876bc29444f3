// The pure latch policy: ladders, nearest, band, validity, the settle rule and the trace replay. No I/O, no Kubernetes.
export { parseLadder, nearest, pointAbove, pointBelow, PolicyError, DEFAULT_LADDER, type Ladder, type LadderKind } from './ladder.ts';
export { parseDecimal, formatRatio, ceil3, type Ratio } from './ratio.ts';
export { band, inBand, formatBand, type Band } from './band.ts';
export {
  ANNOTATIONS,
  ENABLED_LABEL,
  WATCHER_FIELD_MANAGER,
  BOUND_MAX_DIGITS,
  DEFAULT_TOLERANCE,
  clamp,
  latch,
  policyBand,
  minTolerance,
  toleranceValid,
  parseTolerance,
  resolvePolicy,
  policyFromFlags,
  describePolicy,
  type Policy,
  type PolicyDefaults,
  type PolicyResult,
} from './policy.ts';
export { parseTrace, TraceError, type TraceRow } from './trace.ts';
export { observe, record, liveUntil, type SettleConfig, type SettleState, type PeakWindow, type PeakPoint, type Verdict, type Observation } from './settle.ts';
export { simulate, DEFAULT_SETTLE_UP, DEFAULT_SETTLE_DOWN, type SimulateOptions, type SimulateResult, type Latch } from './simulate.ts';
