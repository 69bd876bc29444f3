// decide(review) → response: the whole admission decision of DESIGN §3 as a pure function.
// The server is only transport; everything here is deterministic, side-effect free and idempotent.
import {
  ANNOTATIONS,
  ENABLED_LABEL,
  band,
  clamp,
  formatBand,
  inBand,
  latch,
  resolvePolicy,
  type Policy,
  type PolicyDefaults,
} from '../latch/index.ts';
import { rolloutWarning } from '../rollout/warning.ts';
import { encodePatch, setAnnotation, setReplicas, type PatchOp } from './patch.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReview, AdmissionReviewResponse, KubeObject } from './review.ts';

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

/** What a latching rule concluded, before it is turned into a patch. */
interface Outcome {
  rule: Rule;
  d: number;
  v?: number;
  target: number;
  /** target before the bounds were applied */
  raw: number;
  /** the declared value to remember; undefined leaves the annotation as it is */
  record?: number;
}

const replicasOf = (o: KubeObject | null | undefined): number => o?.spec?.replicas ?? 1;

function isWorkload(req: AdmissionRequest, cfg: DecideConfig): boolean {
  const key = `${req.resource.group}/${req.resource.resource}`;
  return DEFAULT_WORKLOADS.includes(key) || (cfg.extraWorkloads?.includes(key) ?? false);
}

function parseIntAnnotation(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s.trim())) return undefined;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** (a) server-side apply: managedFields present and nobody owns f:spec → f:replicas (a defaulted value has no owner). */
function replicasUnownedBySSA(o: KubeObject): boolean {
  const mf = o.metadata?.managedFields;
  if (!Array.isArray(mf) || mf.length === 0) return false;
  return !mf.some((e) => {
    const spec = e.fieldsV1?.['f:spec'];
    return typeof spec === 'object' && spec !== null && Object.prototype.hasOwnProperty.call(spec, 'f:replicas');
  });
}

/** spec.replicas of a last-applied-configuration: undefined when it does not parse, null when absent. */
function lastAppliedReplicas(o: KubeObject | null | undefined): number | null | undefined {
  const raw = o?.metadata?.annotations?.[LAST_APPLIED];
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const spec = (parsed as { spec?: unknown }).spec;
    if (typeof spec !== 'object' || spec === null) return null;
    const r = (spec as { replicas?: unknown }).replicas;
    return typeof r === 'number' ? r : null;
  } catch {
    return undefined;
  }
}

/** (b) client-side apply: the new last-applied drops spec.replicas that the old one had. */
function replicasDroppedByClientApply(obj: KubeObject, old: KubeObject): boolean {
  const now = lastAppliedReplicas(obj);
  const before = lastAppliedReplicas(old);
  return now === null && typeof before === 'number';
}

/** The rules of §3 for a valid policy, given the declared value d of this request. */
function latchRules(req: AdmissionRequest, obj: KubeObject, p: Policy, d: number): Outcome {
  if (req.operation === 'CREATE') return { rule: 'create', d, raw: d, target: clamp(p, d), record: d };
  const old = req.oldObject ?? {};
  const v = replicasOf(old);
  const rec = parseIntAnnotation(old.metadata?.annotations?.[ANNOTATIONS.declared]);
  if (replicasUnownedBySSA(obj) || replicasDroppedByClientApply(obj, old)) {
    return { rule: 'undeclared', d, v, raw: v, target: clamp(p, v), record: rec };
  }
  if (rec !== undefined && d === rec) return { rule: 'unchanged', d, v, raw: v, target: clamp(p, v), record: d };
  if (inBand(v, band(d, p.tolerance))) return { rule: 'in-band', d, v, raw: v, target: clamp(p, v), record: d };
  return { rule: 'out-of-band', d, v, raw: d, target: clamp(p, d), record: d };
}

function patchFor(obj: KubeObject, o: Outcome): PatchOp[] {
  const ops: PatchOp[] = [];
  if (o.target !== obj.spec?.replicas) ops.push(setReplicas(obj, o.target));
  if (o.record !== undefined && String(o.record) !== obj.metadata?.annotations?.[ANNOTATIONS.declared]) {
    ops.push(setAnnotation(obj, ANNOTATIONS.declared, String(o.record)));
  }
  return ops;
}

/**
 * The declared value of this request. Normally spec.replicas as sent; but when the object already
 * carries a declared annotation A and is exactly what deciding with d = A produces, it is this
 * webhook's own earlier answer (reinvocation, or a re-sent patched object) and A is the real d.
 */
function outcomeFor(req: AdmissionRequest, obj: KubeObject, p: Policy): Outcome {
  const sent = replicasOf(obj);
  const normal = latchRules(req, obj, p, sent);
  if (patchFor(obj, normal).length === 0) return normal;
  const a = parseIntAnnotation(obj.metadata?.annotations?.[ANNOTATIONS.declared]);
  // A client-side apply states its declared value in last-applied; then there is nothing to infer.
  if (a === undefined || a === sent || lastAppliedReplicas(obj) === sent) return normal;
  const earlier = latchRules(req, obj, p, a);
  return patchFor(obj, earlier).length === 0 ? earlier : normal;
}

const WARNING_LIMIT = 120;

function warningFor(o: Outcome, p: Policy): string | undefined {
  if (o.target === o.d) return undefined;
  const verb = o.target === o.v ? 'kept' : 'set';
  if (o.rule === 'undeclared') return `kube-latch: ${verb} replicas ${o.target} (replicas undeclared; apiserver default ${o.d} ignored)`;
  const b = band(o.d, p.tolerance);
  const due = o.rule === 'unchanged' && o.v !== undefined && !inBand(o.v, b) ? `; new latch point ${latch(p, o.v)} due` : '';
  const bounds = o.target !== o.raw ? `, bounds ${p.min}-${p.max === Infinity ? 'inf' : p.max}` : '';
  const msg = `kube-latch: ${verb} replicas ${o.target} (declared ${o.d}, band ${formatBand(b)}${bounds})${due}`;
  // Only ten-digit replica counts reach the limit; the bounds are then the part to drop.
  return msg.length < WARNING_LIMIT ? msg : `kube-latch: ${verb} replicas ${o.target} (declared ${o.d}, band ${formatBand(b)})${due}`;
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

  const o = outcomeFor(req, obj, pol.policy);
  const ops = patchFor(obj, o);
  // On a rebuild from git, a template that git records as failed is worth an immediate warning.
  const rollout = req.operation === 'CREATE' ? rolloutWarning(obj) : undefined;
  const warnings = [warningFor(o, pol.policy), rollout].filter((w): w is string => w !== undefined);
  const audit: Record<string, string> = { decision: o.rule, declared: String(o.d), target: String(o.target) };
  if (o.v !== undefined) audit['live'] = String(o.v);
  const extra: Omit<AdmissionResponse, 'uid' | 'allowed'> = { auditAnnotations: audit };
  if (ops.length > 0) {
    extra.patchType = 'JSONPatch';
    extra.patch = encodePatch(ops);
  }
  if (warnings.length > 0) extra.warnings = warnings;
  return { ...base, rule: o.rule, review: respond(req.uid, extra), patched: ops.length > 0, warnings: warnings.length };
}
