// The pure heart of `kube-latch diff`: one row per opted-in workload from what the cluster holds (live
// workloads, HPAs) and where git declares it (the repo index's locate()). No I/O, so it is table-tested.
//
// It shares every rule with the webhook and the watcher instead of restating them:
// - the policy is resolvePolicy(annotations, defaults, hpaBounds) from src/latch, HPA bounds applying only
//   when the workload has no bound annotation (DESIGN §4);
// - the location is the repo index's locate() from src/git (marker → source annotation → discovery);
// - whether a latch is due, and to what, is the watcher's settle rule (src/watcher/settle.ts) asked with
//   zero settle times: "if live stayed where it is, what would the watcher write?".
import { ANNOTATIONS, formatBand, formatRatio, inBand, nearest, observe, policyBand, resolvePolicy, type Band, type Policy, type PolicyDefaults } from '../latch/index.ts';
import type { BrokenFile, Location, MarkerProblem, Via, WorkloadRef as GitRef } from '../git/types.ts';
import type { HpaObservation, WorkloadObservation } from '../watcher/types.ts';

/**
 * - `in-band`: live lies in band(declared); never drift, whatever the difference.
 * - `latch-due`: live lies outside the band and the watcher would write a new latch point (`latchTo`).
 * - `out-of-band`: live lies outside the band but no latch point can move git: the workload's bounds
 *   (min/max-replicas, or its HPA's) clamp latch(live) back to the declared value, or (downward) to a
 *   value not below it. Git and the cluster disagree and only a human can settle it.
 * - `unlocated`: no place in git declares the workload's replicas (or the one found cannot be written).
 * - `ambiguous`: several places do (`candidates`).
 * - `invalid-policy`: a kube-latch.io annotation is invalid, so the webhook and the watcher leave the
 *   workload alone (`policyError` names it).
 */
export type DiffState = 'in-band' | 'latch-due' | 'out-of-band' | 'unlocated' | 'ambiguous' | 'invalid-policy';

export const DIFF_STATES: readonly DiffState[] = ['in-band', 'latch-due', 'out-of-band', 'unlocated', 'ambiguous', 'invalid-policy'];

export interface DiffPolicy {
  readonly ladder: string;
  readonly tolerance: string;
  readonly min: number;
  /** null when unbounded */
  readonly max: number | null;
  /** where min/max came from */
  readonly boundsFrom: 'annotations' | 'hpa' | 'defaults';
}

export interface DiffRow {
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly state: DiffState;
  /** the latch point the watcher would write (latch-due only) */
  readonly latchTo: number | null;
  /** which side of the band live is on (latch-due and out-of-band only) */
  readonly direction: 'up' | 'down' | null;
  /** the replicas value git declares; null when not located */
  readonly declared: number | null;
  /** git's document has no replicas field (declared counts as 1, as the apiserver defaults it) */
  readonly declaredImplicit: boolean;
  /** live spec.replicas (a missing field counts as 1) */
  readonly live: number;
  /** band(declared) under the workload's policy; null when there is no declared value or no valid policy */
  readonly band: Band | null;
  /** where git declares it; null when unlocated or ambiguous */
  readonly location: { readonly file: string; readonly line: number; readonly via: Via } | null;
  /** the matching places (`file:line`, `file:?` for a file that does not parse) when not located */
  readonly candidates: readonly string[];
  readonly policy: DiffPolicy | null;
  readonly policyError: { readonly annotation: string; readonly message: string } | null;
  /** the HPA whose bounds apply, if any */
  readonly hpa: string | null;
  /** the live object's kube-latch.io/declared: what the last apply declared, as the webhook recorded it */
  readonly recorded: number | null;
  /** one line: why it is not located, why it cannot latch, how a latch would happen; null for a plain in-band row */
  readonly detail: string | null;
}

export interface DiffInput {
  readonly workloads: readonly WorkloadObservation[];
  readonly hpas: readonly HpaObservation[];
  /** the repo index's locate(), or a fake of it */
  readonly locate: (ref: GitRef) => Location;
  readonly defaults?: PolicyDefaults;
}

export interface DiffReport {
  readonly rows: readonly DiffRow[];
  readonly brokenFiles: readonly BrokenFile[];
  readonly markerProblems: readonly MarkerProblem[];
  /** workload kinds not listed (e.g. Rollouts without their CRD), and cluster reads that failed */
  readonly notes: readonly string[];
}

/** 0 when every row is in band (or there are none), 1 otherwise. */
export function exitCodeFor(rows: readonly Pick<DiffRow, 'state'>[]): 0 | 1 {
  return rows.every((r) => r.state === 'in-band') ? 0 : 1;
}

export function countStates(rows: readonly Pick<DiffRow, 'state'>[]): Record<DiffState, number> {
  const out = Object.fromEntries(DIFF_STATES.map((s) => [s, 0])) as Record<DiffState, number>;
  for (const r of rows) out[r.state]++;
  return out;
}

/** The rows, sorted by namespace, kind and name. */
export function diffRows(input: DiffInput): DiffRow[] {
  const hpaIndex = indexHpas(input.hpas);
  return input.workloads
    .map((w) => rowFor(w, input, hpaIndex))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
}

function rowFor(w: WorkloadObservation, input: DiffInput, hpas: Map<string, HpaObservation[]>): DiffRow {
  const ann = w.annotations;
  const hpa = hpaFor(hpas, w);
  const hasBoundAnnotation = ann[ANNOTATIONS.min] !== undefined || ann[ANNOTATIONS.max] !== undefined;
  const resolved = resolvePolicy(ann, input.defaults ?? {}, hpa ? { min: hpa.min, max: hpa.max } : undefined);
  const source = ann[ANNOTATIONS.source];
  const loc = input.locate({ namespace: w.ref.namespace, kind: w.ref.kind, name: w.ref.name, ...(source !== undefined ? { source } : {}) });

  const base = {
    namespace: w.ref.namespace,
    kind: w.ref.kind,
    name: w.ref.name,
    live: w.replicas,
    hpa: hpa && !hasBoundAnnotation ? hpa.name : null,
    recorded: parseRecorded(ann[ANNOTATIONS.declared]),
    latchTo: null,
    direction: null,
  };
  const located = loc.state === 'located' ? loc : undefined;
  const where = {
    declared: located ? located.value : null,
    declaredImplicit: located ? located.needsInsert : false,
    location: located ? { file: located.file, line: located.line, via: located.via } : null,
    candidates: loc.state === 'located' ? [] : [...loc.candidates],
  };

  if (!resolved.ok) {
    const error = { annotation: resolved.annotation, message: resolved.message };
    const alsoWhere = loc.state === 'located' ? '' : `; also ${loc.state}: ${loc.reason}`;
    return { ...base, ...where, state: 'invalid-policy', band: null, policy: null, policyError: error, detail: `${error.annotation}: ${error.message}${alsoWhere}` };
  }
  const policy = resolved.policy;
  const described: DiffPolicy = {
    ladder: policy.ladder.name,
    tolerance: formatRatio(policy.tolerance),
    min: policy.min,
    max: policy.max === Infinity ? null : policy.max,
    boundsFrom: hasBoundAnnotation ? 'annotations' : hpa ? 'hpa' : 'defaults',
  };
  const withPolicy = { ...base, ...where, policy: described, policyError: null };

  if (loc.state !== 'located') {
    return { ...withPolicy, state: loc.state, band: null, detail: loc.reason };
  }
  const d = loc.value;
  const b = policyBand(policy, d);
  if (inBand(w.replicas, b)) {
    return { ...withPolicy, state: 'in-band', band: b, detail: recordedNote(base.recorded, d) };
  }
  // The watcher's own rule, with zero settle times: a latch due now, or one that cannot move git.
  const { verdict } = observe(undefined, { now: 0, v: w.replicas, declared: d }, policy, { settleUp: 0, settleDown: 0 });
  if (verdict.kind === 'due') {
    const detail =
      verdict.direction === 'up'
        ? `live ${w.replicas} is above band ${formatBand(b)}: the watcher writes ${verdict.to} once it has stayed there for --settle-up`
        : `live ${w.replicas} is below band ${formatBand(b)}: the watcher writes latch(peak of live over the last --settle-down), a peak diff cannot see; ${verdict.to} = latch(live) is the lowest it would write`;
    return { ...withPolicy, state: 'latch-due', band: b, latchTo: verdict.to, direction: verdict.direction, detail };
  }
  if (verdict.kind === 'held') {
    return { ...withPolicy, state: 'out-of-band', band: b, direction: verdict.direction, detail: heldDetail(policy, w.replicas, d, b, verdict.target, verdict.direction) };
  }
  // With zero settle times observe() answers in-band, due or held; anything else is a broken invariant.
  throw new Error(`unexpected settle verdict ${verdict.kind} for ${w.ref.namespace}/${w.ref.kind}/${w.ref.name}`);
}

function heldDetail(p: Policy, v: number, d: number, b: Band, target: number, direction: 'up' | 'down'): string {
  const n = nearest(p.ladder, target);
  const to = Math.min(Math.max(n, p.min), p.max);
  const side = direction === 'up' ? 'above' : 'below';
  const bound = n > p.max ? `max-replicas ${p.max}` : n < p.min ? `min-replicas ${p.min}` : 'the bounds';
  const verb = direction === 'up' ? `clamps latch(${target}) = ${n} to ${to}` : `keeps latch(${target}) = ${n} at ${to}`;
  const tail = to === d ? 'which git already declares' : `not below the declared ${d}`;
  return `live ${v} is ${side} band ${formatBand(b)}, but ${bound} ${verb}, ${tail}: no latch can fix it`;
}

function recordedNote(recorded: number | null, declared: number): string | null {
  if (recorded === null || recorded === declared) return null;
  return `git declares ${declared} but the last apply declared ${recorded} (${ANNOTATIONS.declared}): git's value is not applied yet`;
}

function parseRecorded(s: string | undefined): number | null {
  if (s === undefined || !/^\d+$/.test(s.trim())) return null;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) ? n : null;
}

// ---- HPAs: an HPA bounds the workload its scaleTargetRef names (same namespace, same API group) ----

function targetKey(namespace: string, apiVersion: string, kind: string, name: string): string {
  const slash = apiVersion.indexOf('/');
  return `${namespace}/${slash < 0 ? '' : apiVersion.slice(0, slash)}/${kind}/${name}`;
}

function indexHpas(hpas: readonly HpaObservation[]): Map<string, HpaObservation[]> {
  const m = new Map<string, HpaObservation[]>();
  for (const h of hpas) {
    const k = targetKey(h.namespace, h.target.apiVersion, h.target.kind, h.target.name);
    const list = m.get(k) ?? [];
    list.push(h);
    m.set(k, list);
  }
  return m;
}

/** Two HPAs on one workload is a misconfiguration; take the first by name, as the watcher does. */
function hpaFor(m: Map<string, HpaObservation[]>, w: WorkloadObservation): HpaObservation | undefined {
  const list = m.get(targetKey(w.ref.namespace, w.apiVersion, w.ref.kind, w.ref.name));
  return list?.slice().sort((a, b) => a.name.localeCompare(b.name))[0];
}
