import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatRollout, imagesOf, parseRollout, sameImages, type RolloutRecord } from '../../../src/rollout/format.ts';
import { template } from './objects.ts';

describe('formatRollout', () => {
  const cases: Array<[string, RolloutRecord, string]> = [
    ['complete is the bare word', { milestone: 'complete' }, 'complete'],
    ['started', { milestone: 'started', revision: 7, images: [{ name: 'web', image: 'registry/web:1.4.2' }] }, 'rev=7 images=web=registry/web:1.4.2 milestone=started'],
    ['50%', { milestone: '50%', revision: 12, images: [{ name: 'app', image: 'r.example:5000/a/b:v2' }, { name: 'proxy', image: 'envoy:1.30' }] }, 'rev=12 images=app=r.example:5000/a/b:v2,proxy=envoy:1.30 milestone=50%'],
    ['failed with a digest', { milestone: 'failed', revision: 3, images: [{ name: 'app', image: 'reg/app@sha256:0123abcd' }] }, 'rev=3 images=app=reg/app@sha256:0123abcd milestone=failed'],
    ['characters outside the safe set are escaped', { milestone: '25%', revision: 1, images: [{ name: 'a', image: 'x y,z=%' }] }, 'rev=1 images=a=x%20y%2Cz%3D%25 milestone=25%'],
    ['no containers', { milestone: '75%', revision: 2, images: [] }, 'rev=2 images= milestone=75%'],
  ];
  for (const [name, record, text] of cases) {
    it(`${name}: ${text}`, () => {
      assert.equal(formatRollout(record), text);
      assert.deepEqual(parseRollout(text), record);
    });
  }
});

describe('parseRollout', () => {
  const ok: Array<[string, RolloutRecord]> = [
    ['  complete  ', { milestone: 'complete' }],
    ['milestone=complete', { milestone: 'complete' }],
    ['milestone=started rev=2 images=b=y,a=x', { milestone: 'started', revision: 2, images: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] }],
    ['rev=2 images=a=x milestone=failed note=later-field', { milestone: 'failed', revision: 2, images: [{ name: 'a', image: 'x' }] }],
  ];
  for (const [text, record] of ok) it(`reads ${JSON.stringify(text)}`, () => assert.deepEqual(parseRollout(text), record));

  const bad = [
    '', 'Complete', 'done', 'rev=2 images=a=x', 'rev=2 images=a=x milestone=40%', 'rev=0 images=a=x milestone=started',
    'rev=x images=a=x milestone=started', 'rev=2 milestone=started', 'rev=2 images=a milestone=started', 'rev=2 images==x milestone=started',
    'rev=2 rev=3 images=a=x milestone=started', 'rev=2 images=a=%zz milestone=started', 'rev=2 images=a=x milestone=started garbage',
    'rev=99999999999999999 images=a=x milestone=started',
  ];
  for (const text of bad) it(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseRollout(text), undefined));
  it('refuses non-strings', () => {
    assert.equal(parseRollout(undefined), undefined);
    assert.equal(parseRollout(null), undefined);
  });

  it('round-trips every record (property)', () => {
    const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
    fc.assert(
      fc.property(
        fc.constantFrom('started', '25%', '50%', '75%', 'failed' as const),
        fc.integer({ min: 1, max: 1e12 }),
        fc.uniqueArray(fc.record({ name, image: fc.string({ maxLength: 40, unit: "grapheme" }) }).map((c) => ({ name: c.name, image: c.image })), { selector: (c) => c.name, maxLength: 5 }),
        (milestone, revision, images) => {
          const record = { milestone, revision, images: [...images].sort((a, b) => (a.name < b.name ? -1 : 1)) } as RolloutRecord;
          const text = formatRollout(record);
          assert.ok(!/[\n\r\t]/.test(text), 'one line');
          assert.deepEqual(parseRollout(text), record);
        },
      ),
    );
  });
});

describe('imagesOf', () => {
  it('lists init and regular containers sorted by name', () => {
    assert.deepEqual(imagesOf(template({ web: 'w:1', aux: 'a:1' }, { migrate: 'm:1' })), [
      { name: 'aux', image: 'a:1' },
      { name: 'migrate', image: 'm:1' },
      { name: 'web', image: 'w:1' },
    ]);
  });
  it('tolerates missing or odd templates', () => {
    assert.deepEqual(imagesOf(undefined), []);
    assert.deepEqual(imagesOf({ spec: { containers: 'x' } }), []);
    assert.deepEqual(imagesOf({ spec: { containers: [null, { image: 'no-name' }, { name: 'n' }] } }), [{ name: 'n', image: '' }]);
  });
  it('sameImages compares names and images in order', () => {
    assert.ok(sameImages([{ name: 'a', image: '1' }], [{ name: 'a', image: '1' }]));
    assert.ok(!sameImages([{ name: 'a', image: '1' }], [{ name: 'a', image: '2' }]));
    assert.ok(!sameImages([{ name: 'a', image: '1' }], []));
  });
});
