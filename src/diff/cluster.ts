// The cluster side of `kube-latch diff`: one list per workload kind (label kube-latch.io/enabled=true)
// and one of HPAs, reduced to the watcher's observation types by the watcher's own converters, over the
// same kinds table. Read-only: list is the only verb used.
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { firstLine, HPA, kubeDiscovery, resolveWorkloadKinds, statusOf, type ResourceKind } from '../kube/client.ts';
import { ENABLED_SELECTOR, toHpa, toWorkload } from '../watcher/informers.ts';
import type { HpaObservation, WorkloadObservation } from '../watcher/types.ts';

export interface ClusterView {
  readonly workloads: WorkloadObservation[];
  readonly hpas: HpaObservation[];
  /** kinds not listed and reads that failed without making the diff meaningless */
  readonly notes: string[];
}

export interface ReadOptions {
  /** limit to one namespace; all namespaces otherwise */
  readonly namespace?: string | undefined;
  /** extra `group/version/Kind` workload kinds, as the watcher's --workload-kind */
  readonly extraKinds?: readonly string[];
  /** sees each listed workload object beside its observation (status reads its managedFields) */
  readonly visit?: (w: WorkloadObservation, obj: KubernetesObject) => void;
  /** sees each listed HPA object (status reads its lastScaleTime) */
  readonly visitHpa?: (obj: KubernetesObject) => void;
}

const PAGE = 500;

export async function readCluster(kc: KubeConfig, o: ReadOptions = {}): Promise<ClusterView> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const notes: string[] = [];
  const { kinds, skipped } = await resolveWorkloadKinds(kubeDiscovery(kc), o.extraKinds ?? []);
  for (const s of skipped) {
    if (s.configured) throw new Error(`workload kind ${s.kind}: ${s.reason}`);
    notes.push(`${s.kind} not listed: ${s.reason}`);
  }
  const workloads: WorkloadObservation[] = [];
  for (const k of kinds) {
    for (const obj of await listAll(api, k, o.namespace, ENABLED_SELECTOR)) {
      const w = toWorkload(k, obj);
      if (!w) continue;
      workloads.push(w);
      o.visit?.(w, obj);
    }
  }
  let hpas: HpaObservation[] = [];
  try {
    const objs = await listAll(api, HPA, o.namespace);
    if (o.visitHpa) for (const obj of objs) o.visitHpa(obj);
    hpas = objs.map(toHpa).filter((h): h is HpaObservation => h !== undefined);
  } catch (err) {
    // Bounds from an HPA only narrow what may latch; without them the rows are still right for every
    // workload that has no HPA, so say so instead of failing.
    if (statusOf(err) !== 403 && statusOf(err) !== 404) throw err;
    notes.push(`cannot list HorizontalPodAutoscalers (${firstLine(err)}): HPA bounds are not applied`);
  }
  return { workloads, hpas, notes };
}

async function listAll(api: CustomObjectsApi, k: ResourceKind, namespace: string | undefined, labelSelector?: string): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  let cont: string | undefined;
  do {
    const base = { group: k.group, version: k.version, plural: k.plural, limit: PAGE, ...(cont ? { _continue: cont } : {}), ...(labelSelector ? { labelSelector } : {}) };
    const page = (namespace
      ? await api.listNamespacedCustomObject({ ...base, namespace })
      : await api.listClusterCustomObject(base)) as { items?: KubernetesObject[]; metadata?: { _continue?: string; continue?: string } };
    out.push(...(page.items ?? []));
    cont = page.metadata?._continue ?? page.metadata?.continue;
  } while (cont);
  return out;
}
