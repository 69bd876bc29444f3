// PlaceClaims: two workloads on one file:line share it (both ambiguous); moving or leaving frees it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PlaceClaims } from '../../../src/watcher/claims.ts';

type Step = [workload: string, place: string | undefined, affected: string[], sharers: Record<string, string[]>];

const cases: { name: string; steps: Step[] }[] = [
  { name: 'one workload alone shares nothing', steps: [['a', 'x.yaml:7', [], { a: [] }]] },
  {
    name: 'a second workload on the same place: both share, the first is affected',
    steps: [
      ['a', 'x.yaml:7', [], { a: [] }],
      ['b', 'x.yaml:7', ['a'], { a: ['b'], b: ['a'] }],
    ],
  },
  {
    name: 'the same line in another file is another place',
    steps: [
      ['a', 'x.yaml:7', [], {}],
      ['b', 'y.yaml:7', [], { a: [], b: [] }],
    ],
  },
  {
    name: 'moving away frees the other; claiming the same place again changes nothing',
    steps: [
      ['a', 'x.yaml:7', [], {}],
      ['b', 'x.yaml:7', ['a'], {}],
      ['b', 'x.yaml:7', [], { a: ['b'] }],
      ['b', 'y.yaml:3', ['a'], { a: [], b: [] }],
    ],
  },
  {
    name: 'a workload that resolves nowhere (or is deleted) leaves its place',
    steps: [
      ['a', 'x.yaml:7', [], {}],
      ['b', 'x.yaml:7', ['a'], {}],
      ['c', 'x.yaml:7', ['a', 'b'], { a: ['b', 'c'], c: ['a', 'b'] }],
      ['c', undefined, ['a', 'b'], { a: ['b'], c: [] }],
    ],
  },
];

describe('PlaceClaims', () => {
  for (const c of cases) {
    it(c.name, () => {
      const claims = new PlaceClaims();
      for (const [w, place, affected, sharers] of c.steps) {
        assert.deepEqual(claims.claim(w, place).sort(), affected, `claim(${w}, ${place})`);
        for (const [x, want] of Object.entries(sharers)) assert.deepEqual(claims.sharers(x), want, `sharers(${x})`);
      }
    });
  }

  it('property: sharers are exactly the other workloads whose last claim is the same place', () => {
    const ws = ['a', 'b', 'c', 'd'];
    const places = [undefined, 'x:1', 'x:2', 'y:1'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...ws), fc.constantFrom(...places)), { maxLength: 30 }), (steps) => {
        const claims = new PlaceClaims();
        const last = new Map<string, string | undefined>();
        for (const [w, p] of steps) {
          claims.claim(w, p);
          last.set(w, p);
        }
        for (const w of ws) {
          const p = last.get(w);
          const want = p === undefined ? [] : ws.filter((o) => o !== w && last.get(o) === p);
          assert.deepEqual(claims.sharers(w), want);
        }
      }),
    );
  });
});
