// The pure rows of `kube-latch diff`: every state, the policy inputs (annotations, defaults, HPA bounds),
// the exit code rule, and properties tying it to the policy (in band is never drift; a due latch lands
// live inside the new band).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { diffRows, exitCodeFor, countStates, DIFF_STATES, type DiffRow } from '../../../src/diff/rows.ts';
import type { Location, WorkloadRef } from '../../../src/git/types.ts';
import { band, inBand, latch, parseDecimal, resolvePolicy } from '../../../src/latch/index.ts';
import type { HpaObservation, WorkloadObservation } from '../../../src/watcher/types.ts';

function wl(name: string, replicas: number, annotations: Record<string, string> = {}, kind = 'Deployment', namespace = 'prod'): WorkloadObservation {
  return { ref: { namespace, kind, name }, apiVersion: kind === 'Rollout' ? 'argoproj.io/v1alpha1' : 'apps/v1', replicas, annotations };
}

const at = (file: string, line: number, value: number, needsInsert = false): Location => ({
  state: 'located',
  via: 'discovery',
  file,
  line,
  docIndex: 0,
  path: ['spec', 'replicas'],
  value,
  needsInsert,
});

/** A fake of RepoIndex.locate keyed by `ns/Kind/name`; records the refs it was asked for. */
function locator(map: Record<string, Location>) {
  const asked: WorkloadRef[] = [];
  const locate = (ref: WorkloadRef): Location => {
    asked.push(ref);
    return map[`${ref.namespace}/${ref.kind}/${ref.name}`] ?? { state: 'unlocated', candidates: [], reason: `no document declares ${ref.namespace}/${ref.kind}/${ref.name}` };
  };
  return { locate, asked };
}

function one(w: WorkloadObservation, loc: Location | undefined, hpas: HpaObservation[] = [], defaults = {}): DiffRow {
  const map = loc ? { [`${w.ref.namespace}/${w.ref.kind}/${w.ref.name}`]: loc } : {};
  const rows = diffRows({ workloads: [w], hpas, locate: locator(map).locate, defaults });
  assert.equal(rows.length, 1);
  return rows[0]!;
}

interface Case {
  name: string;
  w: WorkloadObservation;
  loc?: Location;
  hpas?: HpaObservation[];
  defaults?: Record<string, unknown>;
  want: Partial<DiffRow>;
  detail?: RegExp;
}

const hpa = (name: string, target: string, min: number, max: number, kind = 'Deployment', apiVersion = 'apps/v1', namespace = 'prod'): HpaObservation => ({
  namespace,
  name,
  target: { apiVersion, kind, name: target },
  min,
  max,
});

const cases: Case[] = [
  // in-band: any difference inside the band is not drift
  { name: 'live equals declared', w: wl('web', 20), loc: at('a.yaml', 7, 20), want: { state: 'in-band', declared: 20, live: 20, band: { lo: 10, hi: 40 }, latchTo: null, direction: null, detail: null } },
  { name: 'live 17 under declared 20, inside 10-40', w: wl('web', 17), loc: at('a.yaml', 7, 20), want: { state: 'in-band', band: { lo: 10, hi: 40 } } },
  { name: 'upper edge of the band is in', w: wl('web', 40), loc: at('a.yaml', 7, 20), want: { state: 'in-band' } },
  { name: 'lower edge of the band is in', w: wl('web', 10), loc: at('a.yaml', 7, 20), want: { state: 'in-band' } },
  { name: 'hand-written declared 17 has a band too (9-34)', w: wl('web', 34), loc: at('a.yaml', 7, 17), want: { state: 'in-band', band: { lo: 9, hi: 34 } } },
  { name: 'declared 0, live 0', w: wl('web', 0), loc: at('a.yaml', 7, 0), want: { state: 'in-band', band: { lo: 0, hi: 0 } } },
  {
    name: 'git has no replicas field: declared counts as 1',
    w: wl('web', 2),
    loc: at('a.yaml', 5, 1, true),
    want: { state: 'in-band', declared: 1, declaredImplicit: true, band: { lo: 1, hi: 2 } },
  },
  {
    name: 'in band, but git moved since the last apply: noted, still in-band',
    w: wl('web', 30, { 'kube-latch.io/declared': '20' }),
    loc: at('a.yaml', 7, 50),
    want: { state: 'in-band', recorded: 20, declared: 50 },
    detail: /git declares 50 but the last apply declared 20/,
  },
  // latch-due: up uses latch(live), down uses latch(live) as the lowest the peak rule would write
  {
    name: 'above the band: latch-due latch(55) = 50, up',
    w: wl('web', 55),
    loc: at('a.yaml', 7, 20),
    want: { state: 'latch-due', latchTo: 50, direction: 'up', band: { lo: 10, hi: 40 } },
    detail: /above band 10-40.*--settle-up/,
  },
  { name: 'just above: 41 → latch 50', w: wl('web', 41), loc: at('a.yaml', 7, 20), want: { state: 'latch-due', latchTo: 50, direction: 'up' } },
  {
    name: 'below the band: latch-due latch(4) = 5, down, with the peak caveat',
    w: wl('web', 4),
    loc: at('a.yaml', 7, 20),
    want: { state: 'latch-due', latchTo: 5, direction: 'down' },
    detail: /latch\(peak of live over the last --settle-down\), a peak diff cannot see; 5 = latch\(live\) is the lowest/,
  },
  { name: 'down to 0 from 1', w: wl('web', 0), loc: at('a.yaml', 7, 1), want: { state: 'latch-due', latchTo: 0, direction: 'down' } },
  { name: 'up from declared 0', w: wl('web', 3), loc: at('a.yaml', 7, 0), want: { state: 'latch-due', latchTo: 2, direction: 'up', band: { lo: 0, hi: 0 } } },
  {
    name: 'annotations pick ladder and tolerance: decade 3.2 gives band 32-320 for 100; 400 latches to 1000 (nearest in log space)',
    w: wl('web', 400, { 'kube-latch.io/ladder': 'decade', 'kube-latch.io/tolerance': '3.2' }),
    loc: at('a.yaml', 7, 100),
    want: { state: 'latch-due', latchTo: 1000, band: { lo: 32, hi: 320 }, policy: { ladder: 'decade', tolerance: '3.2', min: 0, max: null, boundsFrom: 'defaults' } },
  },
  {
    name: 'defaults from flags apply without annotations (sig1, 1.5)',
    w: wl('web', 31),
    loc: at('a.yaml', 7, 20),
    defaults: { ladder: 'sig1', tolerance: '1.5' },
    want: { state: 'latch-due', latchTo: 30, band: { lo: 14, hi: 30 } },
  },
  {
    name: 'max bound clamps an upward latch below live but above declared: still due',
    w: wl('web', 90, { 'kube-latch.io/max-replicas': '30' }),
    loc: at('a.yaml', 7, 10),
    want: { state: 'latch-due', latchTo: 30, policy: { ladder: '1-2-5', tolerance: '2', min: 0, max: 30, boundsFrom: 'annotations' } },
  },
  // out-of-band: bounds make every latch land on (or, downward, not below) the declared value
  {
    name: 'max-replicas equal to declared: nothing can latch up',
    w: wl('web', 55, { 'kube-latch.io/max-replicas': '20' }),
    loc: at('a.yaml', 7, 20),
    want: { state: 'out-of-band', latchTo: null, direction: 'up', band: { lo: 10, hi: 40 } },
    detail: /max-replicas 20 clamps latch\(55\) = 50 to 20, which git already declares/,
  },
  {
    name: 'min-replicas at declared: nothing can latch down',
    w: wl('web', 3, { 'kube-latch.io/min-replicas': '20' }),
    loc: at('a.yaml', 7, 20),
    want: { state: 'out-of-band', direction: 'down' },
    detail: /min-replicas 20 keeps latch\(3\) = 2 at 20/,
  },
  {
    name: 'min-replicas above declared: a downward latch would raise git, so none',
    w: wl('web', 2, { 'kube-latch.io/min-replicas': '30' }),
    loc: at('a.yaml', 7, 20),
    want: { state: 'out-of-band', direction: 'down' },
    detail: /not below the declared 20/,
  },
  {
    name: 'HPA max bounds the workload without bound annotations → out-of-band',
    w: wl('web', 60),
    loc: at('a.yaml', 7, 20),
    hpas: [hpa('web', 'web', 2, 20)],
    want: { state: 'out-of-band', hpa: 'web', policy: { ladder: '1-2-5', tolerance: '2', min: 2, max: 20, boundsFrom: 'hpa' } },
  },
  {
    name: 'bound annotations override the HPA (and the HPA is not named)',
    w: wl('web', 60, { 'kube-latch.io/max-replicas': '100' }),
    loc: at('a.yaml', 7, 20),
    hpas: [hpa('web', 'web', 2, 20)],
    want: { state: 'latch-due', latchTo: 50, hpa: null, policy: { ladder: '1-2-5', tolerance: '2', min: 0, max: 100, boundsFrom: 'annotations' } },
  },
  {
    name: 'an HPA on another kind of the same name does not apply',
    w: wl('web', 60),
    loc: at('a.yaml', 7, 20),
    hpas: [hpa('web', 'web', 2, 20, 'StatefulSet')],
    want: { state: 'latch-due', hpa: null },
  },
  {
    name: 'an HPA in another namespace does not apply',
    w: wl('web', 60),
    loc: at('a.yaml', 7, 20),
    hpas: [hpa('web', 'web', 2, 20, 'Deployment', 'apps/v1', 'staging')],
    want: { state: 'latch-due', hpa: null },
  },
  {
    name: 'an HPA naming another API version of the same group applies; two HPAs → first by name',
    w: wl('web', 60),
    loc: at('a.yaml', 7, 20),
    hpas: [hpa('zz', 'web', 1, 1000, 'Deployment', 'apps/v1'), hpa('aa', 'web', 1, 20, 'Deployment', 'apps/v1beta2')],
    want: { state: 'out-of-band', hpa: 'aa' },
  },
  // not located
  {
    name: 'unlocated: reason from the index',
    w: wl('ghost', 5),
    want: { state: 'unlocated', declared: null, band: null, location: null, candidates: [] },
    detail: /no document declares prod\/Deployment\/ghost/,
  },
  {
    name: 'unlocated with a candidate (a marker that designates nothing)',
    w: wl('web', 5),
    loc: { state: 'unlocated', via: 'marker', candidates: ['helm/values.yaml:9'], reason: 'marker is not on a line with a scalar' },
    want: { state: 'unlocated', candidates: ['helm/values.yaml:9'] },
  },
  {
    name: 'ambiguous: candidates listed',
    w: wl('worker', 5),
    loc: { state: 'ambiguous', via: 'discovery', candidates: ['base/w.yaml:6', 'overlays/prod/w.yaml:6'], reason: '2 documents match prod/Deployment/worker' },
    want: { state: 'ambiguous', declared: null, band: null, candidates: ['base/w.yaml:6', 'overlays/prod/w.yaml:6'] },
    detail: /2 documents match/,
  },
  // invalid policy: shown as such, location facts kept
  {
    name: 'unknown ladder',
    w: wl('web', 55, { 'kube-latch.io/ladder': 'fibonacci' }),
    loc: at('a.yaml', 7, 20),
    want: { state: 'invalid-policy', declared: 20, band: null, policy: null, location: { file: 'a.yaml', line: 7, via: 'discovery' } },
    detail: /^kube-latch.io\/ladder: unknown ladder "fibonacci"/,
  },
  { name: 'tolerance below the ladder minimum', w: wl('web', 20, { 'kube-latch.io/tolerance': '1.5' }), loc: at('a.yaml', 7, 20), want: { state: 'invalid-policy' }, detail: /below 1.582/ },
  { name: 'min > max', w: wl('web', 20, { 'kube-latch.io/min-replicas': '9', 'kube-latch.io/max-replicas': '3' }), loc: at('a.yaml', 7, 20), want: { state: 'invalid-policy' }, detail: /exceeds/ },
  { name: 'bound not an integer', w: wl('web', 20, { 'kube-latch.io/max-replicas': 'ten' }), loc: at('a.yaml', 7, 20), want: { state: 'invalid-policy' }, detail: /max-replicas/ },
  {
    name: 'invalid policy wins over ambiguous, and says both',
    w: wl('web', 20, { 'kube-latch.io/ladder': 'x' }),
    loc: { state: 'ambiguous', candidates: ['a.yaml:3', 'b.yaml:3'], reason: '2 documents match' },
    want: { state: 'invalid-policy', candidates: ['a.yaml:3', 'b.yaml:3'], declared: null },
    detail: /also ambiguous: 2 documents match/,
  },
  // kinds
  { name: 'StatefulSet', w: wl('db', 3, {}, 'StatefulSet'), loc: at('db.yaml', 9, 3), want: { state: 'in-band', kind: 'StatefulSet' } },
  {
    name: 'Rollout with its HPA (argoproj.io group)',
    w: wl('canary', 70, {}, 'Rollout'),
    loc: at('r.yaml', 9, 20),
    hpas: [hpa('canary', 'canary', 1, 20, 'Rollout', 'argoproj.io/v1alpha1')],
    want: { state: 'out-of-band', kind: 'Rollout', hpa: 'canary' },
  },
];

describe('diffRows: one row per workload, every state', () => {
  for (const c of cases) {
    it(c.name, () => {
      const row = one(c.w, c.loc, c.hpas, c.defaults);
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(row[k as keyof DiffRow], v, `${k}`);
      if (c.detail) assert.match(row.detail ?? '', c.detail);
      if (row.state !== 'in-band') assert.ok(row.detail, 'every non-in-band row says why');
    });
  }

  it('covers every state', () => {
    const seen = new Set(cases.map((c) => one(c.w, c.loc, c.hpas, c.defaults).state));
    assert.deepEqual([...seen].sort(), [...DIFF_STATES].sort());
  });

  it('passes the source annotation to locate(), and nothing else when absent', () => {
    const { locate, asked } = locator({});
    diffRows({ workloads: [wl('a', 1, { 'kube-latch.io/source': 'deploy/a.yaml' }), wl('b', 1)], hpas: [], locate });
    assert.deepEqual(asked, [
      { namespace: 'prod', kind: 'Deployment', name: 'a', source: 'deploy/a.yaml' },
      { namespace: 'prod', kind: 'Deployment', name: 'b' },
    ]);
  });

  it('sorts rows by namespace, kind, name', () => {
    const rows = diffRows({
      workloads: [wl('b', 1, {}, 'Deployment', 'z'), wl('a', 1, {}, 'StatefulSet', 'a'), wl('c', 1, {}, 'Deployment', 'a'), wl('a', 1, {}, 'Deployment', 'a')],
      hpas: [],
      locate: locator({}).locate,
    });
    assert.deepEqual(rows.map((r) => `${r.namespace}/${r.kind}/${r.name}`), ['a/Deployment/a', 'a/Deployment/c', 'a/StatefulSet/a', 'z/Deployment/b']);
  });
});

describe('exit code rule', () => {
  const table: { states: DiffRow['state'][]; code: 0 | 1 }[] = [
    { states: [], code: 0 },
    { states: ['in-band'], code: 0 },
    { states: ['in-band', 'in-band'], code: 0 },
    ...DIFF_STATES.filter((s) => s !== 'in-band').map((s) => ({ states: ['in-band' as const, s], code: 1 as const })),
    { states: ['unlocated'], code: 1 },
  ];
  for (const t of table) {
    it(`[${t.states.join(', ')}] → ${t.code}`, () => {
      assert.equal(exitCodeFor(t.states.map((state) => ({ state }))), t.code);
    });
  }
  it('countStates counts each state', () => {
    const c = countStates([{ state: 'in-band' }, { state: 'ambiguous' }, { state: 'ambiguous' }]);
    assert.equal(c['in-band'], 1);
    assert.equal(c.ambiguous, 2);
    assert.equal(c['latch-due'], 0);
  });
});

describe('properties against the policy', () => {
  const ladders = fc.constantFrom('1-2-5', 'sig1', 'decade', 'step:10', 'exact');
  const tolFor: Record<string, string[]> = { '1-2-5': ['1.582', '2', '3'], sig1: ['1.415', '1.5', '2'], decade: ['3.163', '4'], 'step:10': ['1.4', '2'], exact: ['1', '1.1', '2'] };
  const policyArb = ladders.chain((ladder) => fc.record({ ladder: fc.constant(ladder), tolerance: fc.constantFrom(...tolFor[ladder]!) }));

  it('a live value inside band(declared) is always in-band, with exit 0', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (p, d, f) => {
        const b = band(d, parseDecimal(p.tolerance)!);
        const v = b.lo + Math.floor(f * (b.hi - b.lo));
        const row = one(wl('w', v, { 'kube-latch.io/ladder': p.ladder, 'kube-latch.io/tolerance': p.tolerance }), at('w.yaml', 1, d));
        assert.equal(row.state, 'in-band');
        assert.equal(exitCodeFor([row]), 0);
      }),
    );
  });

  it('outside the band without bounds it is latch-due, to latch(live), and live lies in the new band', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 1_000_000 }), (p, d, v) => {
        const ann = { 'kube-latch.io/ladder': p.ladder, 'kube-latch.io/tolerance': p.tolerance };
        const policy = resolvePolicy(ann);
        assert.ok(policy.ok);
        fc.pre(!inBand(v, band(d, policy.policy.tolerance)));
        const row = one(wl('w', v, ann), at('w.yaml', 1, d));
        assert.equal(row.state, 'latch-due');
        assert.equal(row.latchTo, latch(policy.policy, v));
        assert.equal(row.direction, v > d ? 'up' : 'down');
        assert.ok(inBand(v, band(row.latchTo!, policy.policy.tolerance)));
      }),
    );
  });
});
