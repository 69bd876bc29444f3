// AdmissionReview v1: the types kube-latch reads, and a validator that turns anything else into a
// one-line ReviewError (the server answers 400). Only the fields the decision reads are checked deeply.

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
}

export interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  controller?: boolean;
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  managedFields?: ManagedFieldsEntry[] | null;
  ownerReferences?: OwnerReference[] | null;
  [k: string]: unknown;
}

/** A workload as the decision sees it: metadata plus spec.replicas. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: ({ replicas?: number | null } & Record<string, unknown>) | null;
  [k: string]: unknown;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  userInfo?: Record<string, unknown>;
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: string;
  request: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export class ReviewError extends Error {
  override name = 'ReviewError';
}

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function optString(o: Obj, key: string, where: string): void {
  const v = o[key];
  if (v !== undefined && v !== null && typeof v !== 'string') throw new ReviewError(`${where}.${key} must be a string`);
}

function gvx(o: Obj, key: string, fields: readonly string[], required: boolean): void {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new ReviewError(`request.${key} is required`);
    return;
  }
  if (!isObj(v)) throw new ReviewError(`request.${key} must be an object`);
  for (const f of fields) {
    if (typeof v[f] !== 'string') throw new ReviewError(`request.${key}.${f} must be a string`);
  }
}

function stringMap(m: unknown, where: string): void {
  if (m === undefined || m === null) return;
  if (!isObj(m)) throw new ReviewError(`${where} must be a map of strings`);
  for (const [k, v] of Object.entries(m)) {
    if (typeof v !== 'string') throw new ReviewError(`${where}["${k.slice(0, 60)}"] must be a string`);
  }
}

function kubeObject(o: unknown, where: string): void {
  if (o === undefined || o === null) return;
  if (!isObj(o)) throw new ReviewError(`${where} must be an object`);
  const meta = o['metadata'];
  if (meta !== undefined && meta !== null) {
    if (!isObj(meta)) throw new ReviewError(`${where}.metadata must be an object`);
    optString(meta, 'name', `${where}.metadata`);
    optString(meta, 'namespace', `${where}.metadata`);
    stringMap(meta['labels'], `${where}.metadata.labels`);
    stringMap(meta['annotations'], `${where}.metadata.annotations`);
    const mf = meta['managedFields'];
    if (mf !== undefined && mf !== null) {
      if (!Array.isArray(mf) || !mf.every(isObj)) throw new ReviewError(`${where}.metadata.managedFields must be a list of objects`);
    }
    const or = meta['ownerReferences'];
    if (or !== undefined && or !== null) {
      if (!Array.isArray(or) || !or.every(isObj)) throw new ReviewError(`${where}.metadata.ownerReferences must be a list of objects`);
    }
  }
  const spec = o['spec'];
  if (spec !== undefined && spec !== null) {
    if (!isObj(spec)) throw new ReviewError(`${where}.spec must be an object`);
    const r = spec['replicas'];
    if (r !== undefined && r !== null && !(typeof r === 'number' && Number.isSafeInteger(r) && r >= 0)) {
      throw new ReviewError(`${where}.spec.replicas must be a non-negative integer`);
    }
  }
}

/** A value for an error message: strings quoted and clipped, anything else by its type (never serialised:
 * a 20,000-deep array would overflow the stack). */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 40));
  if (v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v).slice(0, 20)}`;
}

/** Validates a decoded JSON body as an AdmissionReview v1 request. Throws ReviewError. */
export function parseReview(body: unknown): AdmissionReview {
  if (!isObj(body)) throw new ReviewError('body must be a JSON object (an AdmissionReview)');
  if (body['kind'] !== 'AdmissionReview') throw new ReviewError('kind must be "AdmissionReview"');
  if (body['apiVersion'] !== 'admission.k8s.io/v1') {
    throw new ReviewError(`apiVersion must be "admission.k8s.io/v1", got ${describe(body['apiVersion'])}`);
  }
  const req = body['request'];
  if (!isObj(req)) throw new ReviewError('request must be an object');
  if (typeof req['uid'] !== 'string' || req['uid'] === '') throw new ReviewError('request.uid must be a non-empty string');
  if (typeof req['operation'] !== 'string') throw new ReviewError('request.operation must be a string');
  gvx(req, 'kind', ['group', 'version', 'kind'], true);
  gvx(req, 'resource', ['group', 'version', 'resource'], true);
  gvx(req, 'requestKind', ['group', 'version', 'kind'], false);
  gvx(req, 'requestResource', ['group', 'version', 'resource'], false);
  optString(req, 'subResource', 'request');
  optString(req, 'requestSubResource', 'request');
  optString(req, 'name', 'request');
  optString(req, 'namespace', 'request');
  if (req['dryRun'] !== undefined && req['dryRun'] !== null && typeof req['dryRun'] !== 'boolean') {
    throw new ReviewError('request.dryRun must be a boolean');
  }
  kubeObject(req['object'], 'request.object');
  kubeObject(req['oldObject'], 'request.oldObject');
  return body as unknown as AdmissionReview;
}
