// RFC 6902 patches built against the object exactly as received. A patch that does not apply fails the
// user's request even under failurePolicy Ignore, so every op names a path whose parent exists.
import type { KubeObject } from './review.ts';

export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

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

/**
 * Brings annotations to the given values (a string sets the key, null removes it), in the order given.
 * Keys already as wanted produce no op. The whole map is added only when it is absent: adding it when
 * present would replace every other annotation.
 */
export function setAnnotations(obj: KubeObject, want: ReadonlyArray<readonly [key: string, value: string | null]>): PatchOp[] {
  const ann = obj.metadata?.annotations;
  if (ann === undefined || ann === null) {
    const sets = want.filter((w): w is readonly [string, string] => w[1] !== null);
    if (sets.length === 0) return [];
    const map = Object.fromEntries(sets);
    if (obj.metadata === undefined || obj.metadata === null) return [{ op: 'add', path: '/metadata', value: { annotations: map } }];
    return [{ op: 'add', path: '/metadata/annotations', value: map }];
  }
  const ops: PatchOp[] = [];
  for (const [key, value] of want) {
    const path = `/metadata/annotations/${escapePointer(key)}`;
    const present = has(ann, key);
    if (value === null) {
      if (present) ops.push({ op: 'remove', path });
    } else if (!present) ops.push({ op: 'add', path, value });
    else if (ann[key] !== value) ops.push({ op: 'replace', path, value });
  }
  return ops;
}

export function encodePatch(ops: PatchOp[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64');
}
