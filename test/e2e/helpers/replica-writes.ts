// Who changed spec.replicas: a watch on one workload that records every change of the count and the
// field manager that made it. After a write, the manager entry owning f:spec.f:replicas with the newest
// timestamp is the writer (managers that set the same value share ownership; the last one's time moves).
// A watch sees every resourceVersion in order, so a write undone a moment later (a flap) is still counted.
import { Watch } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../src/kube/client.ts';
import { waitFor } from './cluster.ts';

export interface ReplicaWrite {
  at: number;
  from: number;
  to: number;
  /** the field manager, with `/scale` appended when it wrote through the scale subresource */
  manager: string;
}

export interface ReplicaWrites {
  /** every change of spec.replicas since the watch started (the first object seen is the baseline) */
  readonly writes: ReplicaWrite[];
  /** the count the watch saw last */
  current(): number | undefined;
  /** writes per manager */
  byManager(): Record<string, number>;
  stop(): void;
}

type ManagedField = { manager?: string; time?: string; subresource?: string; fieldsV1?: { 'f:spec'?: { 'f:replicas'?: unknown } } };

/** The writer of spec.replicas according to managedFields: the newest owner of f:spec.f:replicas. */
export function replicasWriter(managedFields: readonly ManagedField[] | undefined): string {
  const owners = (managedFields ?? []).filter((m) => m.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined);
  owners.sort((a, b) => Date.parse(b.time ?? '') - Date.parse(a.time ?? ''));
  const w = owners[0];
  return w ? `${w.manager ?? '?'}${w.subresource ? `/${w.subresource}` : ''}` : '(none)';
}

/** Starts watching `kind` (plural, apps/v1) `name` in `namespace`; resolves once the first object arrived. */
export async function watchReplicaWrites(kubeconfig: string, namespace: string, name: string, plural = 'deployments'): Promise<ReplicaWrites> {
  const writes: ReplicaWrite[] = [];
  let last: number | undefined;
  let stopped = false;
  let abort: AbortController | undefined;
  const watch = new Watch(loadKubeConfig(kubeconfig));
  const onEvent = (phase: string, obj: { spec?: { replicas?: number }; metadata?: { managedFields?: ManagedField[] } }): void => {
    if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
    const n = obj.spec?.replicas;
    if (n === undefined) return;
    if (last !== undefined && n !== last) writes.push({ at: Date.now(), from: last, to: n, manager: replicasWriter(obj.metadata?.managedFields) });
    last = n;
  };
  // The apiserver ends watches after a while, and a restarted apiserver refuses them until it is ready:
  // start again (every second until it works). A fresh watch starts with ADDED, compared with `last`.
  let retrying = false; // one failed start may both reject and call done: one retry, not two watches
  const again = (): void => {
    if (stopped || retrying) return;
    retrying = true;
    setTimeout(() => {
      retrying = false;
      void start().catch(again);
    }, 1000).unref();
  };
  const start = async (): Promise<void> => {
    abort = await watch.watch(`/apis/apps/v1/namespaces/${namespace}/${plural}`, { fieldSelector: `metadata.name=${name}` }, onEvent, again);
  };
  await start();
  await waitFor(`the first ${name} from the watch`, () => last !== undefined, { timeoutMs: 30_000, intervalMs: 50 });
  return {
    writes,
    current: () => last,
    byManager() {
      const out: Record<string, number> = {};
      for (const w of writes) out[w.manager] = (out[w.manager] ?? 0) + 1;
      return out;
    },
    stop() {
      stopped = true;
      abort?.abort();
    },
  };
}
