// Builders for AdmissionReview requests shaped like the ones kube-apiserver sends, so that table tests
// state only what differs between cases.
import type { AdmissionReview, KubeObject, ManagedFieldsEntry } from '../../src/admission/review.ts';

export const ENABLED = { 'kube-latch.io/enabled': 'true' };

export interface WorkloadOpts {
  kind?: 'Deployment' | 'StatefulSet' | 'Rollout' | 'ReplicaSet' | 'ConfigMap';
  name?: string;
  namespace?: string;
  /** undefined leaves spec.replicas out; null sends it as null */
  replicas?: number | null;
  labels?: Record<string, string>;
  annotations?: Record<string, string> | null;
  managedFields?: ManagedFieldsEntry[];
  ownerReferences?: KubeObject['metadata'] extends infer M ? M extends { ownerReferences?: infer O } ? O : never : never;
  noSpec?: boolean;
}

const API: Record<string, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Rollout: 'argoproj.io/v1alpha1',
  ConfigMap: 'v1',
};
const RESOURCE: Record<string, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  ReplicaSet: 'replicasets',
  Rollout: 'rollouts',
  ConfigMap: 'configmaps',
};

export function workload(o: WorkloadOpts = {}): KubeObject {
  const kind = o.kind ?? 'Deployment';
  const name = o.name ?? 'web';
  const metadata: KubeObject['metadata'] = {
    name,
    namespace: o.namespace ?? 'prod',
    uid: '6f1c3a52-0d0e-4b8e-9b57-1f2d9c8a7e01',
    resourceVersion: '4711',
    generation: 3,
    labels: o.labels ?? { app: name, ...ENABLED },
  };
  if (o.annotations !== undefined) metadata.annotations = o.annotations;
  if (o.managedFields) metadata.managedFields = o.managedFields;
  if (o.ownerReferences) metadata.ownerReferences = o.ownerReferences;
  const obj: KubeObject = { apiVersion: API[kind], kind, metadata };
  if (kind === 'ConfigMap') {
    obj['data'] = { key: 'value' };
    return obj;
  }
  if (o.noSpec) return obj;
  const spec: Record<string, unknown> = {
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name, image: `registry.example/${name}:1.2.3` }] },
    },
  };
  if (o.replicas !== undefined) spec['replicas'] = o.replicas;
  obj.spec = spec as KubeObject['spec'];
  return obj;
}

/** A managedFields entry; `ownsReplicas` decides whether it claims f:spec → f:replicas. */
export function managed(manager: string, ownsReplicas: boolean, extra: Partial<ManagedFieldsEntry> = {}): ManagedFieldsEntry {
  const spec: Record<string, unknown> = { 'f:selector': {}, 'f:template': { 'f:spec': { 'f:containers': {} } } };
  if (ownsReplicas) spec['f:replicas'] = {};
  return {
    manager,
    operation: 'Apply',
    apiVersion: 'apps/v1',
    time: '2026-11-26T10:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': {} }, 'f:spec': spec },
    ...extra,
  } as ManagedFieldsEntry;
}

export interface ReviewOpts {
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  subResource?: string;
  dryRun?: boolean;
  uid?: string;
  kind?: string;
  /** request.options.fieldManager, as the apiserver passes it on (UpdateOptions) */
  fieldManager?: string;
}

export function review(o: ReviewOpts): AdmissionReview {
  const obj = o.object ?? o.oldObject ?? workload();
  const kind = o.kind ?? (obj.kind as string) ?? 'Deployment';
  const [group, version] = (API[kind] ?? 'apps/v1').includes('/') ? API[kind]!.split('/') : ['', API[kind]!];
  const request: AdmissionReview['request'] = {
    uid: o.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group: group!, version: version!, kind },
    resource: { group: group!, version: version!, resource: RESOURCE[kind] ?? 'deployments' },
    name: obj.metadata?.name,
    namespace: obj.metadata?.namespace,
    operation: o.operation ?? 'UPDATE',
    userInfo: { username: 'system:serviceaccount:flux-system:kustomize-controller', groups: ['system:serviceaccounts'] },
    object: o.object === undefined ? obj : o.object,
    oldObject: o.oldObject === undefined ? null : o.oldObject,
    dryRun: o.dryRun ?? false,
  };
  if (o.subResource) request.subResource = o.subResource;
  if (o.fieldManager !== undefined) {
    const kind = request.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions';
    request.options = { kind, apiVersion: 'meta.k8s.io/v1', fieldManager: o.fieldManager };
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

/** An UPDATE where git declares `d`, the live count is `v` and the remembered declared value is `rec`. */
export function update(d: number | undefined, v: number, rec?: number, extra: Partial<WorkloadOpts> = {}): AdmissionReview {
  const oldAnn: Record<string, string> = rec === undefined ? {} : { 'kube-latch.io/declared': String(rec) };
  const newAnn: Record<string, string> = { ...oldAnn, ...(extra.annotations ?? {}) };
  return review({
    operation: 'UPDATE',
    object: workload({ ...extra, replicas: d, annotations: newAnn }),
    oldObject: workload({ ...extra, replicas: v, annotations: oldAnn, managedFields: undefined }),
  });
}

export function decodePatch(p: string | undefined): Array<{ op: string; path: string; value?: unknown }> {
  return p === undefined ? [] : JSON.parse(Buffer.from(p, 'base64').toString('utf8'));
}
