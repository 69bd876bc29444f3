// A coordination.k8s.io/v1 Lease as a small compare-and-swap store, for leader election.
// The record mirrors client-go's LeaderElectionRecord; updates carry the resourceVersion they read,
// so two candidates can never both win the same round.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { statusOf } from './client.ts';

export interface LeaseRecord {
  /** '' when nobody holds it (released) */
  readonly holder: string;
  readonly leaseDurationSeconds: number;
  /** ms since the epoch, from the holder's clock */
  readonly acquireTime?: number;
  readonly renewTime?: number;
  readonly leaseTransitions: number;
  /** the version this record was read at; updates are conditional on it */
  readonly resourceVersion?: string;
}

/** Another writer got there first (HTTP 409): re-read and decide again. */
export class LeaseConflictError extends Error {
  override name = 'LeaseConflictError';
}

export interface LeaseStore {
  /** `namespace/name`, for logs */
  readonly description: string;
  get(): Promise<LeaseRecord | undefined>;
  /** Creates the Lease; LeaseConflictError when it already exists. */
  create(r: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces the Lease if it is still at r.resourceVersion; LeaseConflictError otherwise. */
  update(r: LeaseRecord): Promise<LeaseRecord>;
}

export function kubeLeaseStore(kc: KubeConfig, namespace: string, name: string): LeaseStore {
  const api = kc.makeApiClient(CoordinationV1Api);
  const toLease = (r: LeaseRecord): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.leaseDurationSeconds,
      leaseTransitions: r.leaseTransitions,
      // V1MicroTime serialises with the microsecond precision that the apiserver's MicroTime expects.
      ...(r.acquireTime !== undefined ? { acquireTime: new V1MicroTime(r.acquireTime) } : {}),
      ...(r.renewTime !== undefined ? { renewTime: new V1MicroTime(r.renewTime) } : {}),
    },
  });
  const conflict = (err: unknown): never => {
    if (statusOf(err) === 409) throw new LeaseConflictError(`lease ${namespace}/${name} changed under us`);
    throw err;
  };
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        return fromLease(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async create(r) {
      try {
        return fromLease(await api.createNamespacedLease({ namespace, body: toLease({ ...r, resourceVersion: undefined }) }));
      } catch (err) {
        return conflict(err);
      }
    },
    async update(r) {
      try {
        return fromLease(await api.replaceNamespacedLease({ name, namespace, body: toLease(r) }));
      } catch (err) {
        return conflict(err);
      }
    },
  };
}

function fromLease(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  return {
    holder: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    acquireTime: timeOf(s.acquireTime),
    renewTime: timeOf(s.renewTime),
    leaseTransitions: s.leaseTransitions ?? 0,
    resourceVersion: l.metadata?.resourceVersion,
  };
}

/** client-node leaves MicroTime fields as strings on the way in, despite the Date type. */
function timeOf(x: unknown): number | undefined {
  if (x === undefined || x === null) return undefined;
  const t = x instanceof Date ? x.getTime() : Date.parse(String(x));
  return Number.isFinite(t) ? t : undefined;
}
