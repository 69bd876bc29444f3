// The pure rows of `kube-latch status`: every state, "latch due in N s" from the settle rule and the
// time live took its value, pending PRs from kube-latch.io/latched, last latch from git, the exit code,
// and the managedFields / git log readers that feed them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Location } from '../../../src/git/types.ts';
import { commitMessage, renderMessage } from '../../../src/git/message.ts';
import { hpaScaledAt, lastLatches, parseGitLog, replicasWrittenAt } from '../../../src/status/history.ts';
import { stateText, statusExitCode, statusRows, STATUS_STATES, type StatusRow } from '../../../src/status/rows.ts';
import { renderJson, renderTable, renderYaml, statusDocument } from '../../../src/status/render.ts';
import { expandShortFlags } from '../../../src/cli/status.ts';
import { parse as parseYaml } from 'yaml';
import type { HpaObservation, WorkloadObservation } from '../../../src/watcher/types.ts';

const NOW = Date.parse('2026-12-02T16:00:00Z');
const SETTLE = { settleUp: 60_000, settleDown: 86_400_000 }; // ms, as the watcher's

const wl = (name: string, replicas: number, annotations: Record<string, string> = {}, namespace = 'prod', kind = 'Deployment'): WorkloadObservation => ({
  ref: { namespace, kind, name },
  apiVersion: 'apps/v1',
  replicas,
  annotations,
});

const at = (file: string, line: number, value: number): Location => ({ state: 'located', via: 'discovery', file, line, docIndex: 0, path: ['spec', 'replicas'], value, needsInsert: false });

interface Case {
  name: string;
  w: WorkloadObservation;
  loc: Location;
  hpas?: HpaObservation[];
  /** seconds before NOW that live spec.replicas was written; absent: unknown */
  sinceAgo?: number;
  lastLatch?: string;
  want: Partial<StatusRow>;
  text: string;
}

const cases: Case[] = [
  { name: 'in band', w: wl('web', 17), loc: at('apps/web.yaml', 9, 20), want: { state: 'in-band', live: 17, declared: 20, band: { lo: 10, hi: 40 }, location: 'apps/web.yaml:9', latchTo: null, dueInSeconds: null, detail: null }, text: 'in band' },
  { name: 'above the band, written 20 s ago: due in 40 s', w: wl('web', 48), loc: at('a.yaml', 7, 20), sinceAgo: 20, want: { state: 'latch-due', latchTo: 50, dueInSeconds: 40 }, text: 'latch due in 40 s' },
  { name: 'above the band, written 59.5 s ago: rounds up to 1 s', w: wl('web', 48), loc: at('a.yaml', 7, 20), sinceAgo: 59.5, want: { state: 'latch-due', dueInSeconds: 1 }, text: 'latch due in 1 s' },
  { name: 'above the band for longer than settle-up: due now', w: wl('web', 48), loc: at('a.yaml', 7, 20), sinceAgo: 600, want: { state: 'latch-due', latchTo: 50, dueInSeconds: 0 }, text: 'latch due now' },
  { name: 'above the band, time unknown: the whole settle-up (the watcher restarts settle likewise)', w: wl('web', 48), loc: at('a.yaml', 7, 20), want: { state: 'latch-due', dueInSeconds: 60 }, text: 'latch due in 60 s' },
  { name: 'below the band waits settle-down', w: wl('web', 4), loc: at('a.yaml', 7, 20), sinceAgo: 3600, want: { state: 'latch-due', latchTo: 5, dueInSeconds: 86_400 - 3600 }, text: 'latch due in 82800 s' },
  {
    name: 'latched annotation that git does not declare: pending PR, even out of band',
    w: wl('web', 48, { 'kube-latch.io/latched': '50' }),
    loc: at('a.yaml', 7, 20),
    sinceAgo: 600,
    want: { state: 'pending-pr', latchTo: 50, dueInSeconds: null },
    text: 'pending PR (50)',
  },
  { name: 'latched annotation equal to git: git caught up, in band', w: wl('web', 48, { 'kube-latch.io/latched': '50' }), loc: at('a.yaml', 7, 50), want: { state: 'in-band' }, text: 'in band' },
  { name: 'a malformed latched annotation is ignored', w: wl('web', 17, { 'kube-latch.io/latched': 'x' }), loc: at('a.yaml', 7, 20), want: { state: 'in-band' }, text: 'in band' },
  {
    name: 'bounds hold it out of band',
    w: wl('web', 48, { 'kube-latch.io/max-replicas': '20' }),
    loc: at('a.yaml', 7, 20),
    want: { state: 'out-of-band', latchTo: null, dueInSeconds: null },
    text: 'out of band (held)',
  },
  {
    name: 'HPA bounds hold it too',
    w: wl('web', 48),
    loc: at('a.yaml', 7, 20),
    hpas: [{ namespace: 'prod', name: 'web', target: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, min: 1, max: 20 }],
    want: { state: 'out-of-band' },
    text: 'out of band (held)',
  },
  {
    name: 'ambiguous location lists the candidates',
    w: wl('web', 20),
    loc: { state: 'ambiguous', candidates: ['a.yaml:7', 'b.yaml:3'], reason: '2 documents declare prod/Deployment/web' },
    want: { state: 'ambiguous', location: null, candidates: ['a.yaml:7', 'b.yaml:3'], declared: null },
    text: 'ambiguous location',
  },
  { name: 'unlocated', w: wl('web', 20), loc: { state: 'unlocated', candidates: [], reason: 'no document declares it' }, want: { state: 'unlocated', detail: 'no document declares it' }, text: 'unlocated' },
  { name: 'invalid policy', w: wl('web', 20, { 'kube-latch.io/tolerance': '1.1' }), loc: at('a.yaml', 7, 20), want: { state: 'invalid-policy' }, text: 'invalid policy' },
  { name: 'last latch from git', w: wl('web', 20), loc: at('a.yaml', 7, 20), lastLatch: '2026-12-01T10:00:00+00:00', want: { state: 'in-band', lastLatch: '2026-12-01T10:00:00+00:00' }, text: 'in band' },
];

function rowOf(c: Case): StatusRow {
  const key = `${c.w.ref.namespace}/${c.w.ref.kind}/${c.w.ref.name}`;
  const rows = statusRows({
    workloads: [c.w],
    hpas: c.hpas ?? [],
    locate: () => c.loc,
    now: NOW,
    settle: SETTLE,
    replicasSince: new Map(c.sinceAgo === undefined ? [] : [[key, NOW - c.sinceAgo * 1000]]),
    lastLatch: new Map(c.lastLatch ? [[key, c.lastLatch]] : []),
  });
  assert.equal(rows.length, 1);
  return rows[0]!;
}

describe('statusRows', () => {
  for (const c of cases) {
    it(c.name, () => {
      const r = rowOf(c);
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(r[k as keyof StatusRow], v, k);
      assert.equal(stateText(r), c.text);
    });
  }

  it('covers every state', () => {
    const seen = new Set(cases.map((c) => rowOf(c).state));
    assert.deepEqual([...seen].sort(), [...STATUS_STATES].sort());
  });

  it('sorts by namespace, kind and name', () => {
    const rows = statusRows({
      workloads: [wl('b', 1, {}, 'z'), wl('a', 1, {}, 'z', 'StatefulSet'), wl('c', 1, {}, 'a'), wl('a', 1, {}, 'z')],
      hpas: [],
      locate: () => at('a.yaml', 1, 1),
      now: NOW,
      settle: SETTLE,
      replicasSince: new Map(),
      lastLatch: new Map(),
    });
    assert.deepEqual(rows.map((r) => `${r.namespace}/${r.kind}/${r.name}`), ['a/Deployment/c', 'z/Deployment/a', 'z/Deployment/b', 'z/StatefulSet/a']);
  });

  it('due in N s never exceeds the settle time and reaches 0 once it has passed (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 41, max: 10_000 }), fc.integer({ min: 0, max: 200_000 }), (live, agoMs) => {
        const r = rowOf({ name: '', w: wl('web', live), loc: at('a.yaml', 1, 20), sinceAgo: agoMs / 1000, want: {}, text: '' });
        assert.equal(r.state, 'latch-due');
        assert.equal(r.dueInSeconds, agoMs >= 60_000 ? 0 : Math.ceil((60_000 - agoMs) / 1000));
      }),
    );
  });
});

describe('statusExitCode (as diff)', () => {
  it('0 when all rows are in band or there are none', () => {
    assert.equal(statusExitCode([]), 0);
    assert.equal(statusExitCode([{ state: 'in-band' }, { state: 'in-band' }]), 0);
  });
  for (const s of STATUS_STATES.filter((x) => x !== 'in-band')) {
    it(`1 when one row is ${s}`, () => assert.equal(statusExitCode([{ state: 'in-band' }, { state: s }]), 1));
  }
});

describe('replicasWrittenAt', () => {
  it('takes the newest time of the entries that own spec.replicas', () => {
    const t = replicasWrittenAt([
      { time: '2026-12-02T10:00:00Z', fieldsV1: { 'f:spec': { 'f:replicas': {}, 'f:template': {} } } },
      { time: '2026-12-02T12:00:00Z', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      { time: '2026-12-02T13:00:00Z', fieldsV1: { 'f:metadata': { 'f:labels': {} } } },
      { time: '2026-12-02T14:00:00Z', fieldsV1: { 'f:spec': { 'f:template': {} } } },
    ]);
    assert.equal(t, Date.parse('2026-12-02T12:00:00Z'));
  });
  it('accepts Date values (client-node deserialises them) and skips entries without a time', () => {
    assert.equal(replicasWrittenAt([{ time: new Date(5000), fieldsV1: { 'f:spec': { 'f:replicas': {} } } }, { fieldsV1: { 'f:spec': { 'f:replicas': {} } } }]), 5000);
  });
  it('undefined when nothing owns it', () => {
    assert.equal(replicasWrittenAt(undefined), undefined);
    assert.equal(replicasWrittenAt([{ time: '2026-12-02T10:00:00Z', fieldsV1: {} }]), undefined);
  });
});

describe('hpaScaledAt', () => {
  it("keys the HPA's lastScaleTime by the workload it targets (scale-subresource writes carry no managedFields time)", () => {
    const hpa = { metadata: { namespace: 'prod' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' } }, status: { lastScaleTime: '2026-12-02T12:00:00Z' } };
    assert.deepEqual(hpaScaledAt(hpa), { key: 'prod/Deployment/web', t: Date.parse('2026-12-02T12:00:00Z') });
    assert.equal(hpaScaledAt({ ...hpa, status: {} }), undefined, 'never scaled');
    assert.equal(hpaScaledAt({ ...hpa, status: { lastScaleTime: 'soon' } }), undefined);
  });
});

describe('lastLatches', () => {
  it("reads the watcher's own commit messages, newest first, single and batched", () => {
    const single = renderMessage(commitMessage([{ change: { type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value: 50, live: 47, band: { lo: 10, hi: 40 } }, status: 'written', from: 20, file: 'a.yaml', line: 7 }]));
    const batch = renderMessage(
      commitMessage([
        { change: { type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value: 20 }, status: 'written', from: 10 },
        { change: { type: 'replicas', ref: { namespace: 'prod', kind: 'StatefulSet', name: 'db' }, value: 5, live: 5 }, status: 'written', from: 2 },
      ]),
    );
    const raw = [`2026-12-02T12:00:00+00:00\n${single}`, `2026-12-01T12:00:00+00:00\nfix: typo\n\nprod/Deployment/api: new 5`, `2026-11-30T12:00:00+00:00\n${batch}`].join('\0') + '\0';
    const m = lastLatches(parseGitLog(raw));
    assert.deepEqual(Object.fromEntries(m), { 'prod/Deployment/web': '2026-12-02T12:00:00+00:00', 'prod/StatefulSet/db': '2026-11-30T12:00:00+00:00' });
  });
});

describe('output', () => {
  const rows = cases.map(rowOf);
  it('json and yaml carry the same document, with the exit code and a count per state', () => {
    const doc = statusDocument(rows, ['n']);
    const j = JSON.parse(renderJson(doc));
    assert.deepEqual(parseYaml(renderYaml(doc)), j);
    assert.equal(j.version, 'kube-latch.io/status/v1');
    assert.equal(j.exitCode, 1);
    assert.equal(j.summary.workloads, rows.length);
    assert.equal(j.summary['pending-pr'], 1);
    assert.equal(j.workloads[1].dueInSeconds, 40);
  });
  it('the table has colour only when asked', () => {
    const plain = renderTable(rows, { color: false });
    assert.doesNotMatch(plain, /\x1b\[/);
    assert.match(plain, /^NAMESPACE\s+KIND\s+NAME\s+LIVE\s+GIT\s+BAND\s+STATE\s+LOCATION\s+LAST LATCH$/m);
    assert.match(plain, /^prod\s+Deployment\s+web\s+48\s+20\s+10-40\s+latch due in 40 s\s+a\.yaml:7\s+-$/m);
    assert.match(renderTable(rows, { color: true }), /\x1b\[32min band/);
  });
  it('no workloads: says so', () => {
    assert.match(renderTable([], { color: false }), /No opted-in workloads/);
  });
});

describe('expandShortFlags (kubectl spellings)', () => {
  const cases: [string[], string[]][] = [
    [['-n', 'prod'], ['--workload-namespace', 'prod']],
    [['-nprod'], ['--workload-namespace=prod']],
    [['--namespace=prod'], ['--workload-namespace=prod']],
    [['--namespace', 'prod'], ['--workload-namespace', 'prod']],
    [['-A'], ['--all-namespaces']],
    [['-o', 'json'], ['--output', 'json']],
    [['-oyaml'], ['--output=yaml']],
    [['--', '-n'], ['--', '-n']],
  ];
  for (const [argv, want] of cases) it(argv.join(' '), () => assert.deepEqual(expandShortFlags(argv), want));
});
