// The webhook's one addition for rollouts (pure, < 120 characters): on a CREATE whose
// `kube-latch.io/rollout` annotation records that this very pod template (same images) failed its
// rollout, say so. A cluster rebuilt from git then shows the operator at once that git holds a
// template that did not roll out. The webhook does not block the request, does not rewrite the
// template and records no Event (sideEffects: None); the watcher's latcher records the Event when it
// sees such a Deployment. See docs/rollout.md.
import { imagesOf, parseRollout, ROLLOUT_ANNOTATION, sameImages } from './format.ts';

/** Any workload object: the webhook's KubeObject, a client-node Deployment, parsed YAML. */
interface ObjectLike {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | null } | null;
  readonly spec?: unknown;
}

/** The warning for an object whose annotation records that its own template failed, else undefined. */
export function rolloutWarning(object: ObjectLike | null | undefined): string | undefined {
  const record = failedRecordFor(object);
  if (!record) return undefined;
  return `kube-latch: git records that this pod template failed its rollout (revision ${record.revision}); not blocked`;
}

/** The `failed` record of the annotation when it is about the object's own template (same images). */
export function failedRecordFor(object: ObjectLike | null | undefined): { revision: number } | undefined {
  const record = parseRollout(object?.metadata?.annotations?.[ROLLOUT_ANNOTATION]);
  if (!record || record.milestone !== 'failed') return undefined;
  const spec = object?.spec as { template?: unknown } | null | undefined;
  if (!sameImages(record.images, imagesOf(spec?.template))) return undefined;
  return { revision: record.revision };
}
