// RFC 6902 patches built against the object exactly as received. A patch that does not apply fails the
// user's request even under failurePolicy Ignore, so every op names a path whose parent exists.
import type { KubeObject } from './review.ts';

export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Sets spec.replicas: replace when the key exists (even as null), add otherwise. */
export function setReplicas(obj: KubeObject, value: number): PatchOp {
  if (obj.spec === undefined || obj.spec === null) return { op: 'add', path: '/spec', value: { replicas: value } };
  return { op: has(obj.spec, 'replicas') ? 'replace' : 'add', path: '/spec/replicas', value };
}

/** Sets one annotation; adds the whole map only when it is absent (adding it when present replaces it). */
export function setAnnotation(obj: KubeObject, key: string, value: string): PatchOp {
  const meta = obj.metadata;
  if (meta === undefined || meta === null) return { op: 'add', path: '/metadata', value: { annotations: { [key]: value } } };
  const ann = meta.annotations;
  if (ann === undefined || ann === null) return { op: 'add', path: '/metadata/annotations', value: { [key]: value } };
  return { op: has(ann, key) ? 'replace' : 'add', path: `/metadata/annotations/${escapePointer(key)}`, value };
}

export function encodePatch(ops: PatchOp[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
