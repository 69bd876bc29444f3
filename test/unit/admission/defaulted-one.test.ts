import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { defaultedOneWarning, type DefaultedOneInput } from '../../../src/admission/defaulted-one.ts';
import { parseTolerance } from '../../../src/latch/index.ts';

const r2 = parseTolerance('2');
const base: DefaultedOneInput = { declaredBy: 'other-write', declared: 1, live: 17, remembered: 20, target: 1, tolerance: r2 };
const WARN = 'kube-latch: replicas 17 → 1 may be the default of a dropped replicas field; kube-latch.io/min-replicas guards';

const cases: Array<[string, Partial<DefaultedOneInput>, string | undefined]> = [
  ['a non-apply write of 1 from live 17, git remembered 20 (helm 3 scaffold, kubectl replace)', {}, WARN],
  ['no remembered value (kubectl replace also drops kube-latch.io/declared from the manifest)', { remembered: undefined }, WARN],
  ['server-side apply: a dropped field is undeclared by ownership, never a 1', { declaredBy: 'server-side-apply' }, undefined],
  ['client-side apply: last-applied shows the drop', { declaredBy: 'client-side-apply' }, undefined],
  ['git has declared 1 before: a real 1', { remembered: 1 }, undefined],
  ['a declared 2 is no default', { declared: 2, target: 2 }, undefined],
  ['live inside band(1) = 1-2: a step, not a drop', { live: 2 }, undefined],
  ['live 3, just above band(1)', { live: 3 }, 'kube-latch: replicas 3 → 1 may be the default of a dropped replicas field; kube-latch.io/min-replicas guards'],
  ['live 0: scaling up from 0 is no loss', { live: 0 }, undefined],
  ['min-replicas lifts the target: already guarded, the decision says so', { target: 10 }, undefined],
  ['a wider tolerance widens band(1): live 3 inside band(1) = 1-3 under 3', { live: 3, tolerance: parseTolerance('3') }, undefined],
];
for (const [name, over, want] of cases) {
  test(`defaultedOneWarning: ${name}`, () => {
    assert.equal(defaultedOneWarning({ ...base, ...over }), want);
  });
}

test('defaultedOneWarning stays under 120 characters for any replica count the API allows (int32)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 2 ** 31 - 1 }), (live) => {
      const w = defaultedOneWarning({ ...base, live });
      assert.ok(w !== undefined && w.length < 120, `${w?.length}: ${w}`);
    }),
  );
});
