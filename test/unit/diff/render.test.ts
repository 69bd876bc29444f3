// `kube-latch diff` output: the JSON document's documented shape (keys, order, types), and the human
// table (columns, STATE labels, notes, broken files, colour only when asked).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffRows, type DiffReport } from '../../../src/diff/rows.ts';
import { DIFF_JSON_VERSION, renderTable, stateLabel, toJson, type DiffMeta } from '../../../src/diff/render.ts';
import type { Location, WorkloadRef } from '../../../src/git/types.ts';
import type { WorkloadObservation } from '../../../src/watcher/types.ts';

const w = (name: string, replicas: number, annotations: Record<string, string> = {}): WorkloadObservation => ({
  ref: { namespace: 'prod', kind: 'Deployment', name },
  apiVersion: 'apps/v1',
  replicas,
  annotations,
});
const at = (file: string, line: number, value: number): Location => ({ state: 'located', via: 'discovery', file, line, docIndex: 0, path: ['spec', 'replicas'], value, needsInsert: false });
const locations: Record<string, Location> = {
  'prod/Deployment/a-in': at('deploy/a.yaml', 7, 20),
  'prod/Deployment/b-up': at('deploy/b.yaml', 7, 20),
  'prod/Deployment/c-down': at('deploy/c.yaml', 7, 20),
  'prod/Deployment/d-capped': at('deploy/d.yaml', 7, 20),
  'prod/Deployment/e-amb': { state: 'ambiguous', via: 'discovery', candidates: ['x.yaml:3', 'y.yaml:3'], reason: '2 documents match prod/Deployment/e-amb' },
  'prod/Deployment/g-bad': at('deploy/g.yaml', 7, 20),
};
const locate = (r: WorkloadRef): Location => locations[`${r.namespace}/${r.kind}/${r.name}`] ?? { state: 'unlocated', candidates: [], reason: `no document under deploy declares ${r.namespace}/${r.kind}/${r.name}` };

const report: DiffReport = {
  rows: diffRows({
    workloads: [
      w('a-in', 17),
      w('b-up', 55),
      w('c-down', 4),
      w('d-capped', 55, { 'kube-latch.io/max-replicas': '20' }),
      w('e-amb', 5),
      w('f-lost', 5),
      w('g-bad', 5, { 'kube-latch.io/ladder': 'nope' }),
    ],
    hpas: [],
    locate,
  }),
  brokenFiles: [{ file: 'deploy/broken.yaml', error: 'line 3:5 Nested mappings are not allowed in compact mappings' }],
  markerProblems: [{ file: 'helm/values.yaml', line: 9, message: 'marker is not on a line with a scalar value' }],
  notes: ['argoproj.io/v1alpha1/Rollout not listed: argoproj.io/v1alpha1 is not served (CRD not installed?)'],
};
const meta: DiffMeta = { repo: '/src/gitops', branch: null, revision: '0123456789abcdef0123456789abcdef01234567', paths: ['deploy'], cluster: 'https://127.0.0.1:6443' };

describe('JSON', () => {
  const doc = toJson(report, meta);

  it('top-level fields, in order', () => {
    assert.deepEqual(Object.keys(doc), ['version', 'repo', 'cluster', 'exitCode', 'summary', 'workloads', 'brokenFiles', 'markerProblems', 'notes']);
    assert.equal(doc.version, DIFF_JSON_VERSION);
    assert.equal(doc.version, 'kube-latch.io/diff/v1');
    assert.deepEqual(doc.repo, { url: '/src/gitops', branch: null, revision: meta.revision, paths: ['deploy'] });
    assert.equal(doc.cluster, 'https://127.0.0.1:6443');
    assert.equal(doc.exitCode, 1);
    assert.deepEqual(doc.summary, { workloads: 7, inBand: 1, latchDue: 2, outOfBand: 1, unlocated: 1, ambiguous: 1, invalidPolicy: 1 });
  });

  it('every workload has the same keys, in order, with the documented types', () => {
    const keys = ['namespace', 'kind', 'name', 'state', 'latchTo', 'direction', 'declared', 'declaredImplicit', 'live', 'band', 'location', 'candidates', 'policy', 'policyError', 'hpa', 'recorded', 'detail'];
    for (const r of doc.workloads) {
      assert.deepEqual(Object.keys(r), keys);
      assert.equal(typeof r.live, 'number');
      assert.ok(Array.isArray(r.candidates));
      if (r.band) assert.deepEqual(Object.keys(r.band), ['lo', 'hi']);
      if (r.location) assert.deepEqual(Object.keys(r.location), ['file', 'line', 'via']);
      if (r.policy) assert.deepEqual(Object.keys(r.policy), ['ladder', 'tolerance', 'min', 'max', 'boundsFrom']);
    }
  });

  it('rows carry the state, value to latch to, and location', () => {
    const by = Object.fromEntries(doc.workloads.map((r) => [r.name, r]));
    assert.deepEqual(
      { state: by['a-in']!.state, declared: by['a-in']!.declared, live: by['a-in']!.live, band: by['a-in']!.band, location: by['a-in']!.location },
      { state: 'in-band', declared: 20, live: 17, band: { lo: 10, hi: 40 }, location: { file: 'deploy/a.yaml', line: 7, via: 'discovery' } },
    );
    assert.deepEqual([by['b-up']!.state, by['b-up']!.latchTo, by['b-up']!.direction], ['latch-due', 50, 'up']);
    assert.deepEqual([by['c-down']!.state, by['c-down']!.latchTo, by['c-down']!.direction], ['latch-due', 5, 'down']);
    assert.deepEqual([by['d-capped']!.state, by['d-capped']!.latchTo, by['d-capped']!.policy?.max], ['out-of-band', null, 20]);
    assert.deepEqual([by['e-amb']!.state, by['e-amb']!.candidates], ['ambiguous', ['x.yaml:3', 'y.yaml:3']]);
    assert.equal(by['f-lost']!.state, 'unlocated');
    assert.deepEqual(by['g-bad']!.policyError, { annotation: 'kube-latch.io/ladder', message: 'unknown ladder "nope"; expected 1-2-5, sig1, decade, step:N or exact' });
    assert.equal(by['a-in']!.policy?.max, null, 'unbounded max is null, not Infinity');
  });

  it('survives JSON.stringify unchanged (no Infinity, no undefined)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc);
  });

  it('all in band → exitCode 0', () => {
    const ok = toJson({ ...report, rows: report.rows.filter((r) => r.state === 'in-band') }, meta);
    assert.equal(ok.exitCode, 0);
    assert.deepEqual(ok.summary, { workloads: 1, inBand: 1, latchDue: 0, outOfBand: 0, unlocated: 0, ambiguous: 0, invalidPolicy: 0 });
  });

  it('broken files, marker problems and notes pass through', () => {
    assert.deepEqual(doc.brokenFiles, report.brokenFiles);
    assert.deepEqual(doc.markerProblems, report.markerProblems);
    assert.deepEqual(doc.notes, report.notes);
  });
});

describe('table', () => {
  const text = renderTable(report, meta, { color: false });
  const lines = text.split('\n');

  it('header line names repo, revision, paths and cluster', () => {
    assert.equal(lines[0], 'repo /src/gitops @ 0123456789ab, paths deploy; cluster https://127.0.0.1:6443');
  });

  it('one row per workload with declared, live, band, state and where', () => {
    const row = (name: string) => lines.find((l) => l.startsWith(`prod/Deployment/${name} `))!.split(/\s{2,}/);
    assert.deepEqual(lines[1]!.split(/\s{2,}/), ['WORKLOAD', 'DECLARED', 'LIVE', 'BAND', 'STATE', 'WHERE']);
    assert.deepEqual(row('a-in'), ['prod/Deployment/a-in', '20', '17', '10-40', 'in-band', 'deploy/a.yaml:7']);
    assert.deepEqual(row('b-up'), ['prod/Deployment/b-up', '20', '55', '10-40', 'latch-due 50', 'deploy/b.yaml:7']);
    assert.deepEqual(row('c-down'), ['prod/Deployment/c-down', '20', '4', '10-40', 'latch-due 5', 'deploy/c.yaml:7']);
    assert.deepEqual(row('d-capped'), ['prod/Deployment/d-capped', '20', '55', '10-40', 'out-of-band', 'deploy/d.yaml:7']);
    assert.deepEqual(row('e-amb'), ['prod/Deployment/e-amb', '-', '5', '-', 'ambiguous', 'x.yaml:3, y.yaml:3']);
    assert.deepEqual(row('f-lost'), ['prod/Deployment/f-lost', '-', '5', '-', 'unlocated', '(not located)']);
    assert.deepEqual(row('g-bad'), ['prod/Deployment/g-bad', '20', '5', '-', 'invalid-policy', 'deploy/g.yaml:7']);
  });

  it('columns line up', () => {
    const rows = lines.slice(1, 9);
    const col = rows[0]!.indexOf('STATE');
    for (const l of rows.slice(1)) assert.match(l.slice(col), /^(in-band|latch-due|out-of-band|ambiguous|unlocated|invalid-policy)/);
  });

  it('notes explain every non-in-band row, including the downward peak caveat', () => {
    assert.match(text, /prod\/Deployment\/c-down: .*peak of live over the last --settle-down\), a peak diff cannot see/);
    assert.match(text, /prod\/Deployment\/d-capped: .*max-replicas 20 clamps/);
    assert.match(text, /prod\/Deployment\/f-lost: no document under deploy declares/);
    assert.doesNotMatch(text, /prod\/Deployment\/a-in:/);
  });

  it('broken files (file and one line), marker problems, notes and the summary', () => {
    assert.match(text, /\n {2}deploy\/broken\.yaml: line 3:5 Nested mappings are not allowed in compact mappings\n/);
    assert.match(text, /\n {2}helm\/values\.yaml:9: marker is not on a line/);
    assert.match(text, /\nnote: argoproj\.io\/v1alpha1\/Rollout not listed/);
    assert.match(text, /\n7 workloads: 1 in-band, 2 latch-due, 1 out-of-band, 1 unlocated, 1 ambiguous, 1 invalid-policy\n$/);
  });

  it('no escape codes without colour; coloured states with it', () => {
    assert.doesNotMatch(text, /\x1b\[/);
    const coloured = renderTable(report, meta, { color: true });
    assert.match(coloured, /\x1b\[32min-band/);
    assert.match(coloured, /\x1b\[33mlatch-due 50/);
    assert.match(coloured, /\x1b\[31mambiguous/);
    assert.equal(coloured.replace(/\x1b\[[0-9;]*m/g, ''), text);
  });

  it('no workloads: says so, summary 0', () => {
    const empty = renderTable({ rows: [], brokenFiles: [], markerProblems: [], notes: [] }, { ...meta, revision: null, branch: 'main' }, { color: false });
    assert.match(empty, /^repo \/src\/gitops branch main, paths deploy/);
    assert.match(empty, /no opted-in workloads/);
    assert.match(empty, /0 workloads: 0 in-band/);
  });

  it('stateLabel', () => {
    assert.equal(stateLabel({ state: 'latch-due', latchTo: 200 }), 'latch-due 200');
    assert.equal(stateLabel({ state: 'ambiguous', latchTo: null }), 'ambiguous');
  });
});
