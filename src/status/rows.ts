// The pure heart of `kube-latch status`: diff's rows (src/diff: policy, location, band, due or held),
// plus what an operator asks next: when will the watcher write, is a latch already on its way (a PR),
// and when did it last write. No I/O, so it is table-tested.
//
// Nothing here restates a rule:
// - the row itself is diffRows() (which asks src/latch for the policy and band, and the watcher's settle
//   rule for due or held);
// - "latch due in N s" is the same settle rule asked with real settle times and the moment live took
//   its value (settleEta below: the one place that calls it).
import { diffRows, type DiffInput, type DiffRow } from '../diff/index.ts';
import { ANNOTATIONS, policyFromFlags, type Band, type SettleConfig } from '../latch/index.ts';
import { observeLive } from '../watcher/settle.ts';
import { refKey, type WorkloadObservation } from '../watcher/types.ts';

/**
 * - `in-band`: live lies in band(declared).
 * - `latch-due`: live is out of band and the watcher will write `latchTo` in `dueInSeconds` (0: now).
 * - `pending-pr`: the watcher has latched a value (kube-latch.io/latched) that the git read here does
 *   not declare yet: a PR waiting for review, or a checkout behind the remote.
 * - `out-of-band`: out of band, but the bounds stop any latch from moving git (diff's out-of-band).
 * - `unlocated`, `ambiguous`: no single place in git declares the replicas.
 * - `invalid-policy`: a kube-latch.io annotation is invalid; the webhook and the watcher leave it alone.
 */
export type StatusState = 'in-band' | 'latch-due' | 'pending-pr' | 'out-of-band' | 'unlocated' | 'ambiguous' | 'invalid-policy';

export const STATUS_STATES: readonly StatusState[] = ['in-band', 'latch-due', 'pending-pr', 'out-of-band', 'unlocated', 'ambiguous', 'invalid-policy'];

export interface StatusRow {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly state: StatusState;
  readonly live: number;
  /** what git declares; null when not located */
  readonly declared: number | null;
  readonly band: Band | null;
  /** the value the watcher will write (latch-due) or has proposed (pending-pr) */
  readonly latchTo: number | null;
  /** seconds until the latch falls due, assuming the watcher has watched since live took its value (latch-due only) */
  readonly dueInSeconds: number | null;
  /** repo-relative `file:line`; null when not located */
  readonly location: string | null;
  /** the matching places when ambiguous */
  readonly candidates: readonly string[];
  /** ISO time of the newest kube-latch commit that latched this workload, null when none is in the history read */
  readonly lastLatch: string | null;
  /** one line of why, or null for a plain in-band row */
  readonly detail: string | null;
}

export interface StatusInput extends DiffInput {
  /** ms since the epoch */
  readonly now: number;
  readonly settle: SettleConfig;
  /** refKey → ms since the epoch at which live spec.replicas was last written (see replicasWrittenAt) */
  readonly replicasSince: ReadonlyMap<string, number>;
  /** refKey → ISO time of the last latch commit (see lastLatches) */
  readonly lastLatch: ReadonlyMap<string, string>;
}

export function statusRows(input: StatusInput): StatusRow[] {
  const byKey = new Map(input.workloads.map((w) => [refKey(w.ref), w] as const));
  return diffRows(input).map((d) => rowFor(d, byKey.get(`${d.namespace}/${d.kind}/${d.name}`), input));
}

/** DESIGN §1; set by the watcher after a push or PR update. (Not in src/latch's ANNOTATIONS on this branch yet.) */

function rowFor(d: DiffRow, w: WorkloadObservation | undefined, input: StatusInput): StatusRow {
  const key = `${d.namespace}/${d.kind}/${d.name}`;
  const base = {
    namespace: d.namespace,
    kind: d.kind,
    name: d.name,
    live: d.live,
    declared: d.declared,
    band: d.band,
    location: d.location ? `${d.location.file}:${d.location.line}` : null,
    candidates: [...d.candidates],
    lastLatch: input.lastLatch.get(key) ?? null,
    latchTo: null,
    dueInSeconds: null,
  };
  if (d.state === 'invalid-policy' || d.state === 'unlocated' || d.state === 'ambiguous') {
    return { ...base, state: d.state, detail: d.detail };
  }
  const latched = parseCount(w?.annotations[ANNOTATIONS.latched]);
  if (latched !== null && latched !== d.declared) {
    return {
      ...base,
      state: 'pending-pr',
      latchTo: latched,
      detail: `the watcher latched ${latched} (${ANNOTATIONS.latched}); the git read here still declares ${d.declared}: a pull request awaits review, or this checkout is behind`,
    };
  }
  if (d.state === 'latch-due' && d.policy && d.declared !== null) {
    const since = input.replicasSince.get(key) ?? input.now;
    const eta = settleEta(d, since, input);
    return { ...base, state: 'latch-due', latchTo: eta.to ?? d.latchTo, dueInSeconds: eta.inSeconds, detail: d.detail };
  }
  return { ...base, state: d.state, detail: d.detail };
}

/**
 * The watcher's settle rule with the real settle times, as if it had seen live take its value at `since`
 * and watched since. The one call into the settle rule: the watcher's own (src/watcher/settle.ts over
 * src/latch/settle.ts).
 */
function settleEta(d: DiffRow, since: number, input: StatusInput): { inSeconds: number; to: number | null } {
  const p = d.policy!;
  const policy = policyFromFlags({ ladder: p.ladder, tolerance: p.tolerance, min: p.min, ...(p.max !== null ? { max: p.max } : {}) });
  const declared = d.declared!;
  const start = Math.min(since, input.now);
  // first sight at `since` (the watcher's own start of the window), then the check at now
  const first = observeLive(undefined, { now: start, v: d.live, declared }, policy, input.settle).state;
  const { verdict } = observeLive(first, { now: input.now, v: d.live, declared }, policy, input.settle);
  if (verdict.kind === 'settling') return { inSeconds: Math.ceil((verdict.dueAt - input.now) / 1000), to: null };
  return { inSeconds: 0, to: verdict.kind === 'due' ? verdict.to : null };
}

function parseCount(s: string | undefined): number | null {
  if (s === undefined || !/^\d{1,10}$/.test(s.trim())) return null;
  return Number(s.trim());
}

/** 0 when every row is in band (or there are none), 1 otherwise: the same contract as `kube-latch diff`. */
export function statusExitCode(rows: readonly Pick<StatusRow, 'state'>[]): 0 | 1 {
  return rows.every((r) => r.state === 'in-band') ? 0 : 1;
}

/** How a state reads in the table. */
export function stateText(r: Pick<StatusRow, 'state' | 'dueInSeconds' | 'latchTo'>): string {
  switch (r.state) {
    case 'in-band':
      return 'in band';
    case 'latch-due':
      return r.dueInSeconds ? `latch due in ${r.dueInSeconds} s` : 'latch due now';
    case 'pending-pr':
      return `pending PR (${r.latchTo})`;
    case 'out-of-band':
      return 'out of band (held)';
    case 'unlocated':
      return 'unlocated';
    case 'ambiguous':
      return 'ambiguous location';
    case 'invalid-policy':
      return 'invalid policy';
  }
}
