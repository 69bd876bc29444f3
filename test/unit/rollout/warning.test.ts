import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { rolloutWarning } from '../../../src/rollout/warning.ts';
import { template } from './objects.ts';

const obj = (annotation: string | undefined, images: Record<string, string> = { app: 'reg/web:2' }) => ({
  metadata: { annotations: (annotation === undefined ? {} : { 'kube-latch.io/rollout': annotation }) as Record<string, string> },
  spec: { replicas: 3, template: template(images) },
});

describe('rolloutWarning: the webhook CREATE warning for a template git recorded as failed', () => {
  const cases: Array<[string, ReturnType<typeof obj> | null | undefined, string | undefined]> = [
    ['failed, same images: warns', obj('rev=8 images=app=reg/web:2 milestone=failed'), 'kube-latch: git records that this pod template failed its rollout (revision 8); not blocked'],
    ['failed, other images (the template was fixed since): silent', obj('rev=8 images=app=reg/web:2 milestone=failed', { app: 'reg/web:3' }), undefined],
    ['failed, a container added since: silent', obj('rev=8 images=app=reg/web:2 milestone=failed', { app: 'reg/web:2', side: 's:1' }), undefined],
    ['in flight: silent (only a failure is worth a warning)', obj('rev=8 images=app=reg/web:2 milestone=50%'), undefined],
    ['complete: silent', obj('complete'), undefined],
    ['no annotation: silent', obj(undefined), undefined],
    ['malformed annotation: silent', obj('failed'), undefined],
    ['no object: silent', null, undefined],
    ['no metadata or template: silent', {} as ReturnType<typeof obj>, undefined],
  ];
  for (const [name, o, want] of cases) it(name, () => assert.equal(rolloutWarning(o), want));

  it('is always shorter than 120 characters (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (rev) => {
        const w = rolloutWarning(obj(`rev=${rev} images=app=reg/web:2 milestone=failed`));
        assert.ok(w !== undefined && w.length < 120, w);
      }),
    );
  });
});
