// Builders for Deployments and ReplicaSets as the apiserver returns them, reduced to what the rollout
// code reads. Defaults describe a settled Deployment at revision `rev` with its one ReplicaSet.
import type { KubernetesObject } from '@kubernetes/client-node';

export interface DeployOpts {
  name?: string;
  namespace?: string;
  uid?: string;
  replicas?: number;
  rev?: number;
  generation?: number;
  observedGeneration?: number;
  images?: Record<string, string>;
  initImages?: Record<string, string>;
  reason?: string;
  status?: string;
  message?: string;
  updated?: number;
  annotations?: Record<string, string>;
  noCondition?: boolean;
  progressDeadlineSeconds?: number;
}

export const template = (images: Record<string, string>, initImages: Record<string, string> = {}) => ({
  metadata: { labels: { app: 'web' } },
  spec: {
    ...(Object.keys(initImages).length ? { initContainers: Object.entries(initImages).map(([name, image]) => ({ name, image })) } : {}),
    containers: Object.entries(images).map(([name, image]) => ({ name, image })),
  },
});

export function deploy(o: DeployOpts = {}): KubernetesObject & Record<string, any> {
  const gen = o.generation ?? 1;
  const replicas = o.replicas ?? 4;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: o.name ?? 'web',
      namespace: o.namespace ?? 'prod',
      uid: o.uid ?? 'd-uid',
      generation: gen,
      labels: { 'kube-latch.io/enabled': 'true' },
      annotations: { ...(o.rev !== undefined ? { 'deployment.kubernetes.io/revision': String(o.rev) } : { 'deployment.kubernetes.io/revision': '1' }), ...o.annotations },
    },
    spec: { replicas, template: template(o.images ?? { app: 'registry.example/web:1' }, o.initImages), progressDeadlineSeconds: o.progressDeadlineSeconds ?? 600 },
    status: {
      observedGeneration: o.observedGeneration ?? gen,
      replicas,
      updatedReplicas: o.updated ?? replicas,
      ...(o.noCondition
        ? {}
        : {
            conditions: [
              { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
              { type: 'Progressing', status: o.status ?? 'True', reason: o.reason ?? 'NewReplicaSetAvailable', message: o.message ?? 'ReplicaSet "web-1" has successfully progressed.' },
            ],
          }),
    },
  };
}

export interface RsOpts {
  name?: string;
  uid?: string;
  owner?: string;
  rev: number;
  desired: number;
  current?: number;
  ready?: number;
  available?: number;
  images?: Record<string, string>;
  controller?: boolean;
}

export function rs(o: RsOpts): KubernetesObject & Record<string, any> {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: o.name ?? `web-${o.rev}`,
      namespace: 'prod',
      uid: o.uid ?? `rs-uid-${o.rev}`,
      annotations: { 'deployment.kubernetes.io/revision': String(o.rev) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: o.owner ?? 'd-uid', controller: o.controller ?? true }],
    },
    spec: { replicas: o.desired, template: template(o.images ?? { app: `registry.example/web:${o.rev}` }) },
    status: { replicas: o.current ?? o.desired, readyReplicas: o.ready ?? o.available ?? o.desired, availableReplicas: o.available ?? o.desired },
  };
}
