import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type DecideConfig } from '../../../src/admission/decide.ts';
import type { AdmissionReview, KubeObject, ManagedFieldsEntry } from '../../../src/admission/review.ts';
import jsonpatch from 'fast-json-patch';
import { decodePatch, managed, review, update, workload } from '../../helpers/reviews.ts';

const DECLARED_KEY = 'kube-latch.io/declared';
const LATCHED_KEY = 'kube-latch.io/latched';
const DECLARED = '/metadata/annotations/kube-latch.io~1declared';
const LATCHED = '/metadata/annotations/kube-latch.io~1latched';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const lastApplied = (replicas?: number) =>
  JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'prod' }, spec: replicas === undefined ? { selector: {} } : { replicas, selector: {} } });

/** The stored annotations of oldObject: the webhook's memory rec and the watcher's marker lat. */
function memory(rec?: number, lat?: string): Record<string, string> {
  const a: Record<string, string> = {};
  if (rec !== undefined) a[DECLARED_KEY] = String(rec);
  if (lat !== undefined) a[LATCHED_KEY] = lat;
  return a;
}

/**
 * A server-side apply by Flux (manager kustomize-controller). The object carries the stored annotations
 * along, as SSA keeps fields that other managers own, unless carryLatched is false (an applier that owns
 * the annotations map and replaced it).
 */
function ssa(o: { sent: number; v: number; rec?: number; lat?: string; owns: boolean; others?: ManagedFieldsEntry[]; fieldManager?: string | null; subresource?: string; carryLatched?: boolean }): AdmissionReview {
  const mine = managed('kustomize-controller', o.owns, o.subresource ? { subresource: o.subresource } : {});
  const carried = memory(o.rec, o.carryLatched === false ? undefined : o.lat);
  return review({
    operation: 'UPDATE',
    fieldManager: o.fieldManager === null ? undefined : (o.fieldManager ?? 'kustomize-controller'),
    object: workload({ replicas: o.sent, annotations: carried, managedFields: [mine, ...(o.others ?? [])] }),
    oldObject: workload({ replicas: o.v, annotations: memory(o.rec, o.lat) }),
  });
}

/** A client-side kubectl apply: la is the new last-applied's replicas (null: none; a string: raw text). */
function csa(o: { sent: number; la: number | null | string; v: number; oldLa: number | null; rec?: number; lat?: string }): AdmissionReview {
  const la = typeof o.la === 'string' ? o.la : lastApplied(o.la ?? undefined);
  return review({
    operation: 'UPDATE',
    fieldManager: 'kubectl-client-side-apply',
    object: workload({ replicas: o.sent, annotations: { ...memory(o.rec, o.lat), [LAST_APPLIED]: la }, managedFields: [managed('kubectl-client-side-apply', true, { operation: 'Update' })] }),
    oldObject: workload({ replicas: o.v, annotations: { ...memory(o.rec, o.lat), [LAST_APPLIED]: lastApplied(o.oldLa ?? undefined) } }),
  });
}

interface Expect {
  rule: string;
  /** the patch ops expected, in order; [] for none */
  ops: Array<{ op: string; path: string; value?: unknown }>;
  /** null: no warning */
  warning: RegExp | null;
  audit?: Record<string, string>;
}

const cases: Array<{ name: string; review: AdmissionReview; cfg?: DecideConfig; expect: Expect }> = [
  // --- pass through: allowed, no patch, no warning
  {
    name: 'a ConfigMap is not a workload',
    review: review({ operation: 'CREATE', object: workload({ kind: 'ConfigMap' }) }),
    expect: { rule: 'pass-through:not-workload', ops: [], warning: null },
  },
  {
    name: 'the /scale subresource is never touched',
    review: review({ operation: 'UPDATE', subResource: 'scale', object: workload({ replicas: 40 }), oldObject: workload({ replicas: 17 }) }),
    expect: { rule: 'pass-through:subresource', ops: [], warning: null },
  },
  {
    name: 'DELETE passes',
    review: review({ operation: 'DELETE', object: null, oldObject: workload({ replicas: 3 }) }),
    expect: { rule: 'pass-through:operation', ops: [], warning: null },
  },
  {
    name: 'CONNECT passes',
    review: review({ operation: 'CONNECT', object: workload({ replicas: 3 }) }),
    expect: { rule: 'pass-through:operation', ops: [], warning: null },
  },
  {
    name: 'a workload without the opt-in label passes',
    review: update(20, 17, undefined, { labels: { app: 'web' } }),
    expect: { rule: 'pass-through:not-opted-in', ops: [], warning: null },
  },
  {
    name: 'the opt-in label must be "true"',
    review: update(20, 17, undefined, { labels: { 'kube-latch.io/enabled': 'yes' } }),
    expect: { rule: 'pass-through:not-opted-in', ops: [], warning: null },
  },
  {
    name: 'a ReplicaSet owned by a Deployment passes even when ReplicaSets are configured',
    cfg: { extraWorkloads: ['apps/replicasets'] },
    review: review({
      operation: 'UPDATE',
      object: workload({ kind: 'ReplicaSet', replicas: 3, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', controller: true }] }),
      oldObject: workload({ kind: 'ReplicaSet', replicas: 5 }),
    }),
    expect: { rule: 'pass-through:owned-replicaset', ops: [], warning: null },
  },
  {
    name: 'ReplicaSets are not workloads unless configured',
    review: review({ operation: 'CREATE', object: workload({ kind: 'ReplicaSet', replicas: 3 }) }),
    expect: { rule: 'pass-through:not-workload', ops: [], warning: null },
  },
  // --- invalid policy: allowed, no patch, one warning naming the annotation
  {
    name: 'an unknown ladder',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/ladder': 'fib' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/ladder.*unknown ladder "fib"/ },
  },
  {
    name: 'step:0',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/ladder': 'step:0' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/ladder.*N ≥ 1/ },
  },
  {
    name: 'a tolerance below the ladder’s minimum names the minimum',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/tolerance': '1.2' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/tolerance.*1\.582/ },
  },
  {
    name: 'a tolerance that is not a plain decimal',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/tolerance': '2x' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/tolerance.*plain decimal/ },
  },
  {
    name: 'a bound that is not a non-negative integer',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/max-replicas': '-3' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/max-replicas.*non-negative integer/ },
  },
  {
    name: 'min above max',
    review: update(20, 17, undefined, { annotations: { 'kube-latch.io/min-replicas': '9', 'kube-latch.io/max-replicas': '3' } }),
    expect: { rule: 'invalid-policy', ops: [], warning: /kube-latch\.io\/min-replicas.*exceeds/ },
  },
  // --- CREATE: target = clamp(d), record = d
  {
    name: 'CREATE records the declared value, adding the annotations map when absent',
    review: review({ operation: 'CREATE', object: workload({ replicas: 20 }) }),
    expect: { rule: 'create', ops: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-latch.io/declared': '20' } }], warning: null, audit: { decision: 'create', declared: '20', target: '20' } },
  },
  {
    name: 'CREATE without replicas counts as 1',
    review: review({ operation: 'CREATE', object: workload({ annotations: {} }) }),
    expect: { rule: 'create', ops: [{ op: 'add', path: '/spec/replicas', value: 1 }, { op: 'add', path: DECLARED, value: '1' }], warning: null },
  },
  {
    name: 'CREATE clamps to min-replicas and says so',
    review: review({ operation: 'CREATE', object: workload({ replicas: 3, annotations: { 'kube-latch.io/min-replicas': '5' } }) }),
    expect: { rule: 'create', ops: [{ op: 'replace', path: '/spec/replicas', value: 5 }, { op: 'add', path: DECLARED, value: '3' }], warning: /^kube-latch: set replicas 5 \(declared 3, band 2-6, bounds 5-inf\)$/ },
  },
  // --- UPDATE: what the request declares. (a) server-side apply by options.fieldManager
  {
    name: '(a) SSA whose entry owns spec.replicas declares sent: 20 with live 17 in band',
    review: ssa({ sent: 20, v: 17, owns: true }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: DECLARED, value: '20' }], warning: /^kube-latch: kept replicas 17 \(declared 20, band 10-40\)$/, audit: { decision: 'in-band', declared: '20', live: '17', target: '17' } },
  },
  {
    name: '(a) SSA declaring exactly the live count is a declaration, not the webhook’s own answer',
    review: ssa({ sent: 50, v: 50, rec: 20, owns: true }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: DECLARED, value: '50' }], warning: null, audit: { decision: 'in-band', declared: '50', live: '50', target: '50' } },
  },
  {
    name: '(a) SSA whose entry does not own replicas while the HPA’s /scale entry does is silent',
    review: ssa({ sent: 17, v: 17, rec: 20, owns: false, others: [managed('kube-controller-manager', true, { operation: 'Update', subresource: 'scale' })] }),
    expect: { rule: 'silent', ops: [], warning: null, audit: { decision: 'silent', sent: '17', live: '17', target: '17' } },
  },
  {
    name: '(a) SSA with nobody owning replicas is undeclared: the apiserver defaulted it',
    review: ssa({ sent: 1, v: 17, rec: 20, owns: false, others: [managed('kube-controller-manager', false, { operation: 'Update', subresource: 'status' })] }),
    expect: { rule: 'undeclared', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /^kube-latch: kept replicas 17 \(replicas undeclared; apiserver default 1 ignored\)$/, audit: { decision: 'undeclared', sent: '1', live: '17', target: '17' } },
  },
  {
    name: '(a) needs manager = options.fieldManager: another manager’s Apply entry falls to (c), sent = v is silent',
    review: ssa({ sent: 17, v: 17, rec: 20, owns: true, fieldManager: 'kubectl-label' }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: '(a) an Apply entry with a subresource is not the request’s own: falls to (c), a change declares',
    review: ssa({ sent: 100, v: 17, rec: 20, owns: true, subresource: 'scale' }),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '100' }], warning: null },
  },
  {
    name: '(a) without options.fieldManager: falls to (c)',
    review: ssa({ sent: 1, v: 17, rec: 20, owns: false, fieldManager: null }),
    // a non-apply write of 1 over a live 17: the applied 1 may be a dropped field's default (defaulted-one.ts);
    // target = sent, so no warning (DESIGN §3): the audit log names the case
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '1' }], warning: null, audit: { decision: 'out-of-band', declared: '1', live: '17', target: '1', note: 'kube-latch: replicas 17 → 1 may be the default of a dropped replicas field; kube-latch.io/min-replicas guards' } },
  },
  // --- (b) client-side apply, read from last-applied
  {
    name: '(b) last-applied equal to sent declares: 20 → 25 with live 17 in band',
    review: csa({ sent: 25, la: 25, v: 17, oldLa: 20, rec: 20 }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'replace', path: DECLARED, value: '25' }], warning: /^kube-latch: kept replicas 17 \(declared 25, band 13-50\)$/ },
  },
  {
    name: '(b) kubectl apply of exactly the live count declares it (c would call it silent)',
    review: csa({ sent: 50, la: 50, v: 50, oldLa: 20, rec: 20 }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: DECLARED, value: '50' }], warning: null },
  },
  {
    name: '(b) last-applied drops replicas that the old one had: undeclared',
    review: csa({ sent: 1, la: null, v: 17, oldLa: 20, rec: 20 }),
    expect: { rule: 'undeclared', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /replicas undeclared; apiserver default 1 ignored/ },
  },
  {
    name: '(b) a write that carries an older last-applied (kubectl label) falls to (c): silent',
    review: csa({ sent: 45, la: 20, v: 45, oldLa: 20, rec: 20 }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: '(b) an unparsable last-applied falls to (c): a change declares',
    review: csa({ sent: 1, la: '{not json', v: 17, oldLa: 20 }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '1' }], warning: null, audit: { decision: 'out-of-band', declared: '1', live: '17', target: '1', note: 'kube-latch: replicas 17 → 1 may be the default of a dropped replicas field; kube-latch.io/min-replicas guards' } },
  },
  {
    name: '(b) no replicas in either last-applied falls to (c): sent = v is silent',
    review: csa({ sent: 17, la: null, v: 17, oldLa: null, rec: 20 }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  // --- (c) any other write
  {
    name: '(c) an update that changes the value declares it: 100 while live 17, git wins',
    review: update(100, 17, 20),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '100' }], warning: null, audit: { decision: 'out-of-band', declared: '100', live: '17', target: '100' } },
  },
  {
    name: '(c) out-of-band downward: 5 while live 17',
    review: update(5, 17),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '5' }], warning: null },
  },
  {
    name: '(c) in-band change: sent 25 ≠ v 17 declares 25, live 17 kept',
    review: update(25, 17, 20),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'replace', path: DECLARED, value: '25' }], warning: /kept replicas 17 \(declared 25, band 13-50\)/ },
  },
  {
    name: '(c) sent = v is silent: no patch, memory kept, no warning inside the band',
    review: update(17, 17, 20),
    expect: { rule: 'silent', ops: [], warning: null, audit: { decision: 'silent', sent: '17', live: '17', target: '17' } },
  },
  {
    name: '(c) silent outside band(rec): target = sent, so no warning (the latch point due is rule 3\'s to say)',
    review: update(45, 45, 20),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: '(c) silent without any memory: nothing to say',
    review: update(45, 45),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: '(c) a PUT that dropped every annotation gets the memory and the marker back as one new map',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 50 }), oldObject: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }) }),
    expect: { rule: 'silent', ops: [{ op: 'add', path: '/metadata/annotations', value: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }], warning: null },
  },
  // --- rule 3: unchanged (d = rec, or d = lat)
  {
    name: 'unchanged (d = rec): live 45 kept and a new latch point is due',
    review: update(20, 45, 20),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 45 }], warning: /^kube-latch: kept replicas 45 \(declared 20, band 10-40\); new latch point 50 due$/ },
  },
  {
    name: 'unchanged (d = rec) inside the band: no latch point due',
    review: update(20, 17, 20),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }], warning: /^kube-latch: kept replicas 17 \(declared 20, band 10-40\)$/ },
  },
  {
    name: 'unchanged (d = rec), live below min-replicas: clamped',
    review: update(20, 3, 20, { annotations: { 'kube-latch.io/min-replicas': '5' } }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 5 }], warning: /set replicas 5 \(declared 20, band 10-40, bounds 5-inf\); new latch point 5 due/ },
  },
  {
    name: 'unchanged (d = lat): git caught up with the watcher’s latch 50, live 22 kept, marker removed',
    review: ssa({ sent: 50, v: 22, rec: 20, lat: '50', owns: true }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 22 }, { op: 'replace', path: DECLARED, value: '50' }, { op: 'remove', path: LATCHED }], warning: /^kube-latch: kept replicas 22 \(declared 50, band 25-100\); new latch point 20 due$/ },
  },
  {
    name: 'unchanged (d = lat) with live = d: record only, marker removed',
    review: csa({ sent: 50, la: 50, v: 50, oldLa: 20, rec: 20, lat: '50' }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: DECLARED, value: '50' }, { op: 'remove', path: LATCHED }], warning: null },
  },
  {
    name: 'unchanged (d = rec) while a marker waits: the applier still holds the older commit, marker kept',
    review: ssa({ sent: 20, v: 50, rec: 20, lat: '50', owns: true }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 50 }], warning: /kept replicas 50 \(declared 20, band 10-40\); new latch point 50 due/ },
  },
  {
    name: 'unchanged (d = rec): an apply that replaced the object without the marker gets it back',
    review: ssa({ sent: 20, v: 50, rec: 20, lat: '50', owns: true, carryLatched: false }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 50 }, { op: 'add', path: LATCHED, value: '50' }], warning: /kept replicas 50 \(declared 20/ },
  },
  {
    name: 'undeclared keeps the marker: a dropped one is added back',
    review: ssa({ sent: 1, v: 50, rec: 20, lat: '50', owns: false, carryLatched: false }),
    expect: { rule: 'undeclared', ops: [{ op: 'replace', path: '/spec/replicas', value: 50 }, { op: 'add', path: LATCHED, value: '50' }], warning: /replicas undeclared/ },
  },
  {
    name: 'the watcher\'s own write (manager kube-latch-watcher) sets the marker as it asks, silently',
    review: review({ operation: 'UPDATE', fieldManager: 'kube-latch-watcher', object: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }), oldObject: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20' } }) }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: 'the watcher\'s own write removes the marker as it asks',
    review: review({ operation: 'UPDATE', fieldManager: 'kube-latch-watcher', object: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20' } }), oldObject: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }) }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: 'the watcher\'s manager is silent even where (c) would read a declaration',
    review: review({ operation: 'UPDATE', fieldManager: 'kube-latch-watcher', object: workload({ replicas: 7, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }), oldObject: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '20' } }) }),
    expect: { rule: 'silent', ops: [], warning: null, audit: { decision: 'silent', sent: '7', live: '50', target: '7' } },
  },
  // --- who may set the marker (DESIGN §3): only the watcher; lat kept means oldObject's value
  {
    name: 'a kubectl replace carrying a stale marker 7 gets the old marker 50 back (rule silent)',
    review: review({ operation: 'UPDATE', fieldManager: 'kubectl-replace', object: workload({ replicas: 10, annotations: { [DECLARED_KEY]: '50', [LATCHED_KEY]: '7' } }), oldObject: workload({ replicas: 10, annotations: { [DECLARED_KEY]: '50', [LATCHED_KEY]: '50' } }) }),
    expect: { rule: 'silent', ops: [{ op: 'replace', path: LATCHED, value: '50' }], warning: null },
  },
  {
    name: 'an apply of exported YAML with a made-up marker loses it when the old object had none (rule unchanged)',
    review: ssa({ sent: 50, v: 10, rec: 50, owns: true, others: [] }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 10 }], warning: /kept replicas 10 \(declared 50, band 25-100\); new latch point 10 due/ },
  },
  {
    name: 'a made-up marker on an SSA apply is removed: lat kept is the old object\'s (none)',
    review: review({ operation: 'UPDATE', fieldManager: 'kustomize-controller', object: workload({ replicas: 50, annotations: { [DECLARED_KEY]: '50', [LATCHED_KEY]: '7' }, managedFields: [managed('kustomize-controller', true)] }), oldObject: workload({ replicas: 10, annotations: { [DECLARED_KEY]: '50' } }) }),
    expect: { rule: 'unchanged', ops: [{ op: 'replace', path: '/spec/replicas', value: 10 }, { op: 'remove', path: LATCHED }], warning: /kept replicas 10 \(declared 50, band 25-100\); new latch point 10 due/ },
  },
  {
    name: 'a CREATE carrying a marker loses it: there is no old marker to keep',
    review: review({ operation: 'CREATE', object: workload({ replicas: 20, annotations: { [LATCHED_KEY]: '7' } }) }),
    expect: { rule: 'create', ops: [{ op: 'add', path: DECLARED, value: '20' }, { op: 'remove', path: LATCHED }], warning: null },
  },
  // --- a silent write never patches /spec/replicas (an Argo Rollout may have none)
  {
    name: 'kubectl label on a Rollout without spec.replicas: no /spec/replicas add, no warning',
    review: review({ operation: 'UPDATE', object: workload({ kind: 'Rollout', annotations: { [DECLARED_KEY]: '20' } }), oldObject: workload({ kind: 'Rollout', annotations: { [DECLARED_KEY]: '20' } }) }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: 'kubectl label far outside the band: target = sent, no warning (DESIGN §3)',
    review: update(480, 480, 4000),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  // --- bounds above int32 are capped at the API's limit
  {
    name: 'min-replicas 9999999999 (valid: ten digits) patches int32\'s 2147483647, not a value the apiserver cannot decode',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 20, annotations: { [DECLARED_KEY]: '20', 'kube-latch.io/min-replicas': '9999999999' } }), oldObject: workload({ replicas: 20, annotations: { [DECLARED_KEY]: '20' } }) }),
    expect: { rule: 'silent', ops: [], warning: null },
  },
  {
    name: 'min-replicas 9999999999 on an apply: target 2147483647',
    review: ssa({ sent: 20, v: 20, rec: 10, owns: true }),
    cfg: { min: 9_999_999_999 } as DecideConfig,
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 2_147_483_647 }, { op: 'replace', path: DECLARED, value: '20' }], warning: /^kube-latch: set replicas 2147483647 \(declared 20, band 10-40, bounds 9999999999-inf\)$/ },
  },
  // --- a remembered value longer than ten digits is no memory (like the bounds)
  {
    name: 'a 15-digit declared memory is ignored: the apply of 50 is judged without it',
    review: ssa({ sent: 50, v: 2_147_483_647, rec: 999_999_999_999_999, owns: true }),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '50' }], warning: null },
  },
  // --- rules 4 and 5 remove the marker: git has moved past it
  {
    name: 'in-band past the latch: git 100 while lat 50 and live 60, marker removed',
    review: ssa({ sent: 100, v: 60, rec: 20, lat: '50', owns: true }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 60 }, { op: 'replace', path: DECLARED, value: '100' }, { op: 'remove', path: LATCHED }], warning: /kept replicas 60 \(declared 100, band 50-200\)/ },
  },
  {
    name: 'out-of-band past the latch: git 500 while lat 50, marker removed in a PUT that kept it',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 500, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }), oldObject: workload({ replicas: 60, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }) }),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: DECLARED, value: '500' }, { op: 'remove', path: LATCHED }], warning: null },
  },
  {
    name: 'a PUT that dropped the marker while git moved: nothing to remove, no op on it',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 500, annotations: {} }), oldObject: workload({ replicas: 60, annotations: { [DECLARED_KEY]: '20', [LATCHED_KEY]: '50' } }) }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '500' }], warning: null },
  },
  {
    name: 'out-of-band clamps to max-replicas',
    review: update(100, 17, 20, { annotations: { 'kube-latch.io/max-replicas': '80' } }),
    expect: { rule: 'out-of-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 80 }, { op: 'replace', path: DECLARED, value: '100' }], warning: /set replicas 80 \(declared 100, band 50-200, bounds 0-80\)/ },
  },
  {
    name: 'an annotations map without the key gets one added key, not a new map',
    review: update(20, 17, undefined, { annotations: { team: 'web' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 17 }, { op: 'add', path: DECLARED, value: '20' }], warning: /kept replicas 17/ },
  },
  {
    name: 'tolerance 1.6 from the annotation gives an exact band',
    review: update(20, 13, undefined, { annotations: { 'kube-latch.io/tolerance': '1.6' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 13 }, { op: 'add', path: DECLARED, value: '20' }], warning: /band 13-32/ },
  },
  {
    name: 'tolerance 1.6: live 12 is out of band(20) = 13-32',
    review: update(20, 12, undefined, { annotations: { 'kube-latch.io/tolerance': '1.6' } }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '20' }], warning: null },
  },
  {
    name: 'spec.replicas sent as null is replaced, not added',
    review: review({ operation: 'UPDATE', object: workload({ replicas: null, annotations: {} }), oldObject: workload({ replicas: 2 }) }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 2 }, { op: 'add', path: DECLARED, value: '1' }], warning: /kept replicas 2 \(declared 1, band 1-2\)/ },
  },
  {
    name: 'missing oldObject replicas counts as 1',
    review: review({ operation: 'UPDATE', object: workload({ replicas: 2, annotations: {} }), oldObject: workload({}) }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 1 }, { op: 'add', path: DECLARED, value: '2' }], warning: /kept replicas 1 \(declared 2, band 1-4\)/ },
  },
  {
    name: 'StatefulSet is a workload',
    review: update(50, 70, undefined, { kind: 'StatefulSet' }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 70 }, { op: 'add', path: DECLARED, value: '50' }], warning: /kept replicas 70 \(declared 50, band 25-100\)/ },
  },
  {
    name: 'Argo Rollout is a workload',
    review: update(10, 3, undefined, { kind: 'Rollout' }),
    expect: { rule: 'out-of-band', ops: [{ op: 'add', path: DECLARED, value: '10' }], warning: null },
  },
  {
    name: 'decade ladder with tolerance 4',
    review: update(100, 30, undefined, { annotations: { 'kube-latch.io/ladder': 'decade', 'kube-latch.io/tolerance': '4' } }),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 30 }, { op: 'add', path: DECLARED, value: '100' }], warning: /band 25-400/ },
  },
  {
    name: 'configuration defaults set the policy when no annotation does',
    cfg: { tolerance: '3' },
    review: update(20, 55),
    expect: { rule: 'in-band', ops: [{ op: 'replace', path: '/spec/replicas', value: 55 }, { op: 'add', path: DECLARED, value: '20' }], warning: /band 7-60/ },
  },
];

for (const c of cases) {
  test(`decide: ${c.name}`, () => {
    const d = decide(c.review, c.cfg);
    const r = d.review.response;
    assert.equal(d.review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(d.review.kind, 'AdmissionReview');
    assert.equal(r.uid, c.review.request.uid);
    assert.equal(r.allowed, true);
    assert.equal(d.rule, c.expect.rule);
    assert.deepEqual(decodePatch(r.patch), c.expect.ops);
    assert.equal(r.patchType, c.expect.ops.length ? 'JSONPatch' : undefined);
    if (c.expect.warning === null) assert.equal(r.warnings, undefined);
    else {
      assert.equal(r.warnings?.length, 1);
      assert.match(r.warnings[0]!, c.expect.warning);
      assert.ok(r.warnings[0]!.length < 120);
    }
    if (c.expect.rule.startsWith('pass-through')) assert.equal(r.auditAnnotations, undefined);
    if (c.expect.audit) assert.deepEqual(r.auditAnnotations, c.expect.audit);
    // The patch applies to the object as received (validate: a missing parent or path throws, as in the apiserver).
    const obj = c.review.request.object;
    if (obj) {
      const out = jsonpatch.applyPatch(structuredClone(obj), decodePatch(r.patch) as jsonpatch.Operation[], true, false).newDocument as KubeObject;
      const target = r.auditAnnotations?.['target'];
      // missing counts as 1: a silent write leaves an absent field absent
      if (target !== undefined) assert.equal(String(out.spec?.replicas ?? 1), target);
    }
  });
}

test('decide: pass-through keeps the uid of the request', () => {
  const rv = review({ operation: 'DELETE', object: null, oldObject: workload({ replicas: 3 }), uid: 'abc-123' });
  assert.deepEqual(decide(rv).review, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc-123', allowed: true } });
});

test('decide: reports kind, namespace and name for logs', () => {
  const d = decide(update(20, 17, undefined, { name: 'api', namespace: 'shop', kind: 'StatefulSet' }));
  assert.deepEqual([d.kind, d.namespace, d.name, d.patched, d.warnings], ['StatefulSet', 'shop', 'api', true, 1]);
});

export type { KubeObject };

test('decide: a CREATE whose rollout annotation records that this template failed gets a second warning, nothing else', () => {
  const obj = workload({ replicas: 20, annotations: { 'kube-latch.io/rollout': 'rev=8 images=web=registry.example/web:1.2.3 milestone=failed' } });
  const d = decide(review({ operation: 'CREATE', object: obj }));
  assert.equal(d.rule, 'create');
  assert.deepEqual(decodePatch(d.review.response.patch), [{ op: 'add', path: DECLARED, value: '20' }]);
  assert.equal(d.review.response.warnings?.length, 1);
  assert.match(d.review.response.warnings![0]!, /failed its rollout \(revision 8\)/);
  // Another template (a new image) is not the one that failed: no warning.
  const fixed = workload({ replicas: 20, annotations: { 'kube-latch.io/rollout': 'rev=8 images=web=registry.example/web:1.2.2 milestone=failed' } });
  assert.equal(decide(review({ operation: 'CREATE', object: fixed })).review.response.warnings, undefined);
});

test('decide: a clamped CREATE of a template that git records as failed gets exactly one warning that says both', () => {
  const obj = workload({ replicas: 2, annotations: { 'kube-latch.io/min-replicas': '5', 'kube-latch.io/rollout': 'rev=8 images=web=registry.example/web:1.2.3 milestone=failed' } });
  const d = decide(review({ operation: 'CREATE', object: obj }));
  assert.equal(d.rule, 'create');
  assert.equal(d.warnings, 1);
  assert.deepEqual(d.review.response.warnings, ['kube-latch: set replicas 5 (declared 2, band 1-4); git records this template failed its rollout (revision 8)']);
  // At the API's limits the parts are dropped, never the one warning.
  const wide = workload({ replicas: 2_147_483_647, annotations: { 'kube-latch.io/max-replicas': '1000000000', 'kube-latch.io/ladder': 'exact', 'kube-latch.io/tolerance': '1.00001', 'kube-latch.io/rollout': 'rev=2147483647 images=web=registry.example/web:1.2.3 milestone=failed' } });
  const w = decide(review({ operation: 'CREATE', object: wide })).review.response.warnings ?? [];
  assert.equal(w.length, 1);
  assert.ok(w[0]!.length < 120, `${w[0]!.length}: ${w[0]}`);
  assert.match(w[0]!, /^kube-latch: set replicas 1000000000 \(declared 2147483647, band \d+-inf\); template failed its rollout$/);
});

test('decide: a 15-digit remembered value is no memory, so no warning reaches 120 characters', () => {
  // the review's reproduction: a memory of 999999999999999 with live at int32's limit
  const rv = review({
    operation: 'UPDATE',
    fieldManager: 'kustomize-controller',
    object: workload({ replicas: 999_999_999_999_999, annotations: { 'kube-latch.io/declared': '999999999999999' }, managedFields: [managed('kustomize-controller', true)] }),
    oldObject: workload({ replicas: 2_147_483_647, annotations: { 'kube-latch.io/declared': '999999999999999' } }),
  });
  const d = decide(rv);
  assert.equal(d.rule, 'out-of-band', 'd = 999999999999999 is not the (ignored) memory');
  assert.equal(d.review.response.auditAnnotations?.['target'], '2147483647', 'the target is capped at int32');
  const w = d.review.response.warnings ?? [];
  assert.equal(w.length, 1);
  assert.ok(w[0]!.length < 120, `${w[0]!.length}: ${w[0]}`);
  assert.doesNotMatch(w[0]!, /new latch point/, 'rule 3 needs a memory; a 15-digit one is none');
});
