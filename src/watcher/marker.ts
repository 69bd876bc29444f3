// The watcher's one write to a workload: the kube-latch.io/latched annotation after a push (DESIGN §4).
// A JSON merge patch of that annotation alone, under the watcher's own field manager, so that it never
// takes ownership of spec or of any field an applier manages.
import { KubernetesObjectApi, PatchStrategy, type KubeConfig } from '@kubernetes/client-node';
import { ANNOTATIONS, WATCHER_FIELD_MANAGER } from '../latch/index.ts';
import { firstLine } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import type { EventTarget, LatchMarker } from './types.ts';

export { WATCHER_FIELD_MANAGER };

/** The merge patch that marks latch point L: one annotation, nothing else. */
export function latchedPatch(target: EventTarget, latchPoint: number | null): Record<string, unknown> {
  return {
    apiVersion: target.apiVersion,
    kind: target.kind,
    // null: a merge patch removes the key
    metadata: { name: target.name, namespace: target.namespace, annotations: { [ANNOTATIONS.latched]: latchPoint === null ? null : String(latchPoint) } },
  };
}

export function kubeLatchMarker(kc: KubeConfig, log: Logger): LatchMarker {
  const api = KubernetesObjectApi.makeApiClient(kc);
  return {
    async mark(target, latchPoint) {
      try {
        await api.patch(latchedPatch(target, latchPoint), undefined, undefined, WATCHER_FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
        log.info({ workload: `${target.namespace}/${target.kind}/${target.name}`, latched: latchPoint }, 'latch point marked on the workload');
      } catch (err) {
        log.warn({ workload: `${target.namespace}/${target.kind}/${target.name}`, latched: latchPoint, err: firstLine(err) }, 'could not mark the latch point on the workload');
      }
    },
    async unmark(target) {
      const workload = `${target.namespace}/${target.kind}/${target.name}`;
      try {
        await api.patch(latchedPatch(target, null), undefined, undefined, WATCHER_FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
        log.info({ workload }, 'latch marker removed: its proposal was closed unmerged');
      } catch (err) {
        log.warn({ workload, err: firstLine(err) }, 'could not remove the latch marker from the workload');
      }
    },
  };
}
