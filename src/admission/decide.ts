// decide(review) → response: the whole admission decision of DESIGN §3 as a pure function.
// The server is only transport; everything here is deterministic, side-effect free and idempotent.
import {
  ANNOTATIONS,
  BOUND_MAX_DIGITS,
  ENABLED_LABEL,
  WATCHER_FIELD_MANAGER,
  band,
  clamp,
  formatBand,
  inBand,
  latch,
  resolvePolicy,
  type Band,
  type Policy,
  type PolicyDefaults,
} from '../latch/index.ts';
import { failedRecordFor, rolloutWarning } from '../rollout/warning.ts';
import { defaultedOneWarning } from './defaulted-one.ts';
import { encodePatch, setAnnotations, setReplicas, type PatchOp } from './patch.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview, AdmissionReviewResponse, KubeObject, ManagedFieldsEntry } from './review.ts';

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The resources kube-latch mutates, as `group/resource` (version-agnostic: matchPolicy Equivalent). */
export const DEFAULT_WORKLOADS: readonly string[] = ['apps/deployments', 'apps/statefulsets', 'argoproj.io/rollouts'];

export interface DecideConfig extends PolicyDefaults {
  /** extra `group/resource` entries with spec.replicas and a scale subresource */
  extraWorkloads?: readonly string[];
}

export type Rule =
  | 'create'
  | 'undeclared'
  | 'silent'
  | 'unchanged'
  | 'in-band'
  | 'out-of-band'
  | 'invalid-policy'
  | 'pass-through:not-workload'
  | 'pass-through:subresource'
  | 'pass-through:operation'
  | 'pass-through:not-opted-in'
  | 'pass-through:owned-replicaset';

export interface Decision {
  review: AdmissionReviewResponse;
  rule: Rule;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  patched: boolean;
  warnings: number;
}

/** What this request says about spec.replicas (DESIGN §3, "what does this request declare?"). */
export type Declaration = { kind: 'declares'; d: number; otherWrite?: true } | { kind: 'undeclared' } | { kind: 'silent' };

/** What a latching rule concluded, before it is turned into a patch. */
interface Outcome {
  rule: Rule;
  /** spec.replicas as sent (missing counts as 1) */
  sent: number;
  /** the value the request declares; undefined when it declares none (undeclared, silent) */
  d?: number;
  /** oldObject's spec.replicas, on UPDATE */
  v?: number;
  target: number;
  /** target before the bounds were applied */
  raw: number;
  /** the declared value to remember; undefined leaves the annotation as it is */
  record?: number;
  /** the declared value whose band the warning names: d, or the remembered one when there is no d */
  ref?: number;
  /**
   * the watcher's latch marker: kept as oldObject holds it (whatever the request carries), removed, or,
   * for the watcher's own write only, left as the request sets it
   */
  latched: 'keep' | 'remove' | 'as-sent';
  /** oldObject's latch marker */
  lat?: string;
  /** the declaration came from (c), a write that is not an apply */
  otherWrite?: true;
}

const replicasOf = (o: KubeObject | null | undefined): number => o?.spec?.replicas ?? 1;

function isWorkload(req: AdmissionRequest, cfg: DecideConfig): boolean {
  const key = `${req.resource.group}/${req.resource.resource}`;
  return DEFAULT_WORKLOADS.includes(key) || (cfg.extraWorkloads?.includes(key) ?? false);
}

/** A count annotation: at most BOUND_MAX_DIGITS digits, like the bounds (a longer one is no memory). */
const COUNT_ANNOTATION = new RegExp(`^\\d{1,${BOUND_MAX_DIGITS}}$`);
function parseIntAnnotation(s: string | undefined): number | undefined {
  if (s === undefined || !COUNT_ANNOTATION.test(s.trim())) return undefined;
  return Number(s.trim());
}

function fieldManagerOf(req: AdmissionRequest): string | undefined {
  const o = req.options;
  if (typeof o !== 'object' || o === null) return undefined;
  const m = (o as { fieldManager?: unknown }).fieldManager;
  return typeof m === 'string' && m !== '' ? m : undefined;
}

function ownsReplicas(e: ManagedFieldsEntry): boolean {
  const spec = e.fieldsV1?.['f:spec'];
  return typeof spec === 'object' && spec !== null && Object.prototype.hasOwnProperty.call(spec, 'f:replicas');
}

/** (a) server-side apply by manager m; undefined when the request is not one. */
function declaredBySSA(obj: KubeObject, m: string | undefined, sent: number): Declaration | undefined {
  const mf = obj.metadata?.managedFields;
  if (m === undefined || !Array.isArray(mf)) return undefined;
  const mine = mf.find((e) => e.operation === 'Apply' && e.manager === m && !e.subresource);
  if (mine === undefined) return undefined;
  if (ownsReplicas(mine)) return { kind: 'declares', d: sent };
  // A field nobody owns was dropped by the applier and defaulted by the apiserver.
  return mf.some(ownsReplicas) ? { kind: 'silent' } : { kind: 'undeclared' };
}

/** spec.replicas of a last-applied-configuration: undefined when it does not parse, null when absent. */
function lastAppliedReplicas(o: KubeObject | null | undefined): number | null | undefined {
  const raw = o?.metadata?.annotations?.[LAST_APPLIED];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const spec = (parsed as { spec?: unknown }).spec;
  if (typeof spec !== 'object' || spec === null) return null;
  const r = (spec as { replicas?: unknown }).replicas;
  return typeof r === 'number' ? r : null;
}

/** (b) client-side apply, read from last-applied; undefined when (b) says nothing and (c) decides. */
function declaredByClientApply(obj: KubeObject, old: KubeObject, sent: number): Declaration | undefined {
  const now = lastAppliedReplicas(obj);
  if (now === undefined) return undefined;
  // kubectl sends replicas: null, and the defaulted 1 is then owned by kubectl's own manager.
  if (now === null && typeof lastAppliedReplicas(old) === 'number') return { kind: 'undeclared' };
  if (now === sent) return { kind: 'declares', d: sent };
  return undefined;
}

/** What an UPDATE declares, from who owns the field: never from comparing with what this webhook wrote. */
export function declaration(req: AdmissionRequest, obj: KubeObject, old: KubeObject): Declaration {
  const sent = replicasOf(obj);
  const byOwner = declaredBySSA(obj, fieldManagerOf(req), sent) ?? declaredByClientApply(obj, old, sent);
  if (byOwner !== undefined) return byOwner;
  // (c) any other write: a changed value is a declaration; an unchanged one says nothing about replicas.
  return sent !== replicasOf(old) ? { kind: 'declares', d: sent, otherWrite: true } : { kind: 'silent' };
}

/** The largest replica count the API allows (int32): no target goes above it, and a band edge above it is shown as unbounded. */
const MAX_REPLICAS = 2_147_483_647;

/**
 * clamp() capped at int32: a ten-digit bound is valid policy (DESIGN §3), but a patch of 9999999999 does
 * not decode in the apiserver and would fail the user's request even under failurePolicy Ignore.
 */
const bounded = (p: Policy, x: number): number => Math.min(MAX_REPLICAS, clamp(p, x));

/** The rules of §3 for a valid policy. */
function latchRules(req: AdmissionRequest, obj: KubeObject, p: Policy): Outcome {
  const sent = replicasOf(obj);
  // Only the watcher's marker patch may set or remove the marker; on CREATE there is no old marker to keep.
  const byWatcher = fieldManagerOf(req) === WATCHER_FIELD_MANAGER;
  if (req.operation === 'CREATE') return { rule: 'create', sent, d: sent, raw: sent, target: bounded(p, sent), record: sent, ref: sent, latched: byWatcher ? 'as-sent' : 'keep' };
  const old = req.oldObject ?? {};
  const v = replicasOf(old);
  const rec = parseIntAnnotation(old.metadata?.annotations?.[ANNOTATIONS.declared]);
  const lat = old.metadata?.annotations?.[ANNOTATIONS.latched];
  const kept = { sent, v, record: rec, ref: rec, latched: 'keep' as const, lat };
  // The watcher's own write is silent in every respect but the marker.
  if (byWatcher) return { ...kept, rule: 'silent', raw: sent, target: sent, latched: 'as-sent' };
  const what = declaration(req, obj, old);
  if (what.kind === 'undeclared') return { ...kept, rule: 'undeclared', raw: v, target: bounded(p, v) };
  if (what.kind === 'silent') return { ...kept, rule: 'silent', raw: sent, target: sent };
  const d = what.d;
  // Git has moved (onto the watcher's latch or past it) exactly when d differs from the memory.
  const moved = { sent, d, v, record: d, ref: d, latched: d === rec ? ('keep' as const) : ('remove' as const), lat, ...(what.otherWrite ? { otherWrite: true as const } : {}) };
  if (d === rec || d === parseIntAnnotation(lat)) return { ...moved, rule: 'unchanged', raw: v, target: bounded(p, v) };
  if (inBand(v, band(d, p.tolerance))) return { ...moved, rule: 'in-band', raw: v, target: bounded(p, v) };
  return { ...moved, rule: 'out-of-band', raw: d, target: bounded(p, d) };
}

function patchFor(obj: KubeObject, o: Outcome): PatchOp[] {
  const ops: PatchOp[] = [];
  // A silent write says nothing about replicas: not even the defaulted 1 of an absent field is added.
  if (o.rule !== 'silent' && o.target !== obj.spec?.replicas) ops.push(setReplicas(obj, o.target));
  const want: Array<[string, string | null]> = [];
  if (o.record !== undefined) want.push([ANNOTATIONS.declared, String(o.record)]);
  // Kept means oldObject's value: a stale or made-up marker in the request is put back (or dropped).
  if (o.latched === 'remove') want.push([ANNOTATIONS.latched, null]);
  else if (o.latched === 'keep') want.push([ANNOTATIONS.latched, o.lat ?? null]);
  ops.push(...setAnnotations(obj, want));
  return ops;
}

const WARNING_LIMIT = 120;

const shownBand = (b: Band): string => (b.hi > MAX_REPLICAS ? `${b.lo}-inf` : formatBand(b));

/**
 * The one warning of a decision whose target ≠ sent (none when target = sent, DESIGN §3). Rule 3 adds
 * the latch point due when it keeps a live value outside band(d); a CREATE of a template that git records
 * as failed adds that too. Every part is at most ten digits, so the shortest form is < 120 characters.
 */
function warningFor(o: Outcome, p: Policy, failedTemplate: { revision: number } | undefined): string | undefined {
  if (o.target === o.sent) return undefined;
  const head = `kube-latch: ${o.target === o.v ? 'kept' : 'set'} replicas ${o.target}`;
  if (o.rule === 'undeclared') return `${head} (replicas undeclared; apiserver default ${o.sent} ignored)`;
  const ref = o.ref ?? o.sent;
  const b = band(ref, p.tolerance);
  const due = o.rule === 'unchanged' && o.v !== undefined && !inBand(o.v, b) ? `; new latch point ${Math.min(MAX_REPLICAS, latch(p, o.v))} due` : '';
  const what = `declared ${ref}, band ${shownBand(b)}`;
  const bounds = o.target !== o.raw ? `, bounds ${p.min}-${p.max === Infinity ? 'inf' : p.max}` : '';
  const failed = failedTemplate ? [`; git records this template failed its rollout (revision ${failedTemplate.revision})`, '; template failed its rollout'] : [''];
  // Longest first; the bounds, then the revision, are the parts to drop at the API's limits.
  const forms = failed.flatMap((f) => [`${head} (${what}${bounds})${due}${f}`, `${head} (${what})${due}${f}`]);
  return forms.find((w) => w.length < WARNING_LIMIT) ?? forms[forms.length - 1];
}

function respond(uid: string, extra: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}): AdmissionReviewResponse {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, ...extra } };
}

export function decide(review: AdmissionReview, cfg: DecideConfig = {}): Decision {
  const req = review.request;
  const obj = req.object ?? undefined;
  const base = {
    kind: req.kind.kind,
    namespace: req.namespace ?? obj?.metadata?.namespace ?? '',
    name: req.name ?? obj?.metadata?.name ?? '',
    uid: req.uid,
  };
  const pass = (rule: Rule): Decision => ({ ...base, rule, review: respond(req.uid), patched: false, warnings: 0 });

  if (req.subResource) return pass('pass-through:subresource');
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return pass('pass-through:operation');
  if (!isWorkload(req, cfg) || !obj) return pass('pass-through:not-workload');
  if (obj.metadata?.labels?.[ENABLED_LABEL] !== 'true') return pass('pass-through:not-opted-in');
  if (req.kind.kind === 'ReplicaSet' && obj.metadata?.ownerReferences?.some((r) => r.controller === true)) {
    return pass('pass-through:owned-replicaset');
  }

  const pol = resolvePolicy(obj.metadata?.annotations ?? undefined, cfg);
  if (!pol.ok) {
    const warning = `kube-latch: ignored ${pol.annotation}: ${pol.message}`;
    return {
      ...base,
      rule: 'invalid-policy',
      review: respond(req.uid, { warnings: [warning], auditAnnotations: { decision: 'invalid-policy' } }),
      patched: false,
      warnings: 1,
    };
  }

  const o = latchRules(req, obj, pol.policy);
  const ops = patchFor(obj, o);
  // On a rebuild from git, a template that git records as failed is worth an immediate warning: folded
  // into the decision's one warning, or alone when replicas are as sent (it is about the template).
  const failedTemplate = req.operation === 'CREATE' ? failedRecordFor(obj) : undefined;
  const replicasWarning = warningFor(o, pol.policy, failedTemplate);
  const rollout = replicasWarning === undefined && failedTemplate ? rolloutWarning(obj) : undefined;
  const warnings = [replicasWarning ?? rollout].filter((w): w is string => w !== undefined);
  const audit: Record<string, string> = { decision: o.rule };
  if (o.d !== undefined) audit['declared'] = String(o.d);
  else audit['sent'] = String(o.sent);
  if (o.v !== undefined) audit['live'] = String(o.v);
  audit['target'] = String(o.target);
  // A non-apply write of 1 may be a dropped field the apiserver defaulted (docs/helm.md). Target = sent,
  // so no warning (DESIGN §3); the audit log names the case.
  const dropped =
    o.rule === 'out-of-band' && o.otherWrite && o.v !== undefined
      ? defaultedOneWarning({ declaredBy: 'other-write', declared: o.sent, live: o.v, remembered: parseIntAnnotation(req.oldObject?.metadata?.annotations?.[ANNOTATIONS.declared]), target: o.target, tolerance: pol.policy.tolerance })
      : undefined;
  if (dropped !== undefined) audit['note'] = dropped;
  const extra: Omit<AdmissionResponse, 'uid' | 'allowed'> = { auditAnnotations: audit };
  if (ops.length > 0) {
    extra.patchType = 'JSONPatch';
    extra.patch = encodePatch(ops);
  }
  if (warnings.length > 0) extra.warnings = warnings;
  return { ...base, rule: o.rule, review: respond(req.uid, extra), patched: ops.length > 0, warnings: warnings.length };
}
