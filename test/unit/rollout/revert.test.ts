import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { rolloutState } from '../../../src/rollout/milestone.ts';
import {
  applyTemplateRestore,
  chooseRevertTarget,
  findWorkloadDocument,
  planTemplateRestore,
  revertBody,
  revertTitle,
  templateOf,
  type HistoryEntry,
} from '../../../src/rollout/revert.ts';
import { deploy, rs } from './objects.ts';

const manifest = (image: string, pool = 'kwok', annotation = 'complete') => `# web, owned by team-a
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  annotations:
    kube-latch.io/rollout: ${annotation}
spec:
  replicas: 4   # kube-latch: prod/Deployment/web
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector:
        pool: "${pool}"
      containers:
        - name: app
          image: ${image}   # pinned
          env:
            - {name: MODE, value: fast}
---
kind: Service
metadata: {name: web, namespace: prod}
`;
const ref = { namespace: 'prod', kind: 'Deployment', name: 'web' };

describe('findWorkloadDocument', () => {
  it('finds the one matching document', () => {
    const d = findWorkloadDocument(manifest('reg/web:1'), ref);
    assert.equal(d?.docIndex, 0);
    assert.deepEqual(templateOf(d?.data), { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { pool: 'kwok' }, containers: [{ name: 'app', image: 'reg/web:1', env: [{ name: 'MODE', value: 'fast' }] }] } });
  });
  const none: Array<[string, string]> = [
    ['another namespace', manifest('x').replace('namespace: prod', 'namespace: dev')],
    ['another name', manifest('x').replace('name: web\n  namespace', 'name: api\n  namespace')],
    ['two copies (ambiguous)', `${manifest('x')}---\n${manifest('y')}`],
    ['does not parse', 'kind: Deployment\nmetadata: {name: web\n'],
  ];
  for (const [name, text] of none) it(`none for ${name}`, () => assert.equal(findWorkloadDocument(text, ref), undefined));
  it('a document without a namespace matches any', () => {
    assert.equal(findWorkloadDocument(manifest('x').replace('  namespace: prod\n', ''), ref)?.docIndex, 0);
  });
});

describe('chooseRevertTarget', () => {
  const t = (image: string) => ({ spec: { containers: [{ name: 'app', image }] } });
  const failing = t('v3');
  const cases: Array<[string, HistoryEntry[], { commit: string; via: string } | undefined]> = [
    [
      'the newest complete commit with another template',
      [
        { commit: 'c5', annotation: 'rev=3 images=app=v3 milestone=started', template: failing },
        { commit: 'c4', annotation: 'complete', template: failing }, // the human's commit that introduced v3
        { commit: 'c3', annotation: 'complete', template: t('v2') },
        { commit: 'c2', annotation: 'rev=2 images=app=v2 milestone=50%', template: t('v2') },
        { commit: 'c1', annotation: 'complete', template: t('v1') },
      ],
      { commit: 'c3', via: 'complete' },
    ],
    [
      'skips a template that never completed',
      [
        { commit: 'c4', annotation: 'complete', template: failing },
        { commit: 'c3', annotation: 'rev=2 images=app=v2 milestone=failed', template: t('v2') },
        { commit: 'c2', annotation: 'rev=2 images=app=v2 milestone=started', template: t('v2') },
        { commit: 'c1', annotation: 'complete', template: t('v1') },
      ],
      { commit: 'c1', via: 'complete' },
    ],
    [
      'no complete anywhere: the template before the failing change',
      [
        { commit: 'c3', annotation: undefined, template: failing },
        { commit: 'c2', annotation: undefined, template: t('v2') },
        { commit: 'c1', annotation: undefined, template: t('v1') },
      ],
      { commit: 'c2', via: 'previous' },
    ],
    ['only the failing template in history', [{ commit: 'c1', annotation: 'complete', template: failing }], undefined],
    ['versions without the workload are skipped', [{ commit: 'c2', annotation: undefined, template: undefined }, { commit: 'c1', annotation: 'complete', template: t('v1') }], { commit: 'c1', via: 'complete' }],
    ['empty history', [], undefined],
  ];
  for (const [name, history, want] of cases) {
    it(name, () => {
      const got = chooseRevertTarget(history, failing);
      assert.deepEqual(got && { commit: got.commit, via: got.via }, want);
    });
  }
});

describe('planTemplateRestore', () => {
  const base = { spec: { containers: [{ name: 'app', image: 'v1', ports: [{ containerPort: 80 }] }], nodeSelector: { pool: 'a' } } };
  const withChange = (f: (t: any) => void) => {
    const t = structuredClone(base);
    f(t);
    return t;
  };
  it('scalar changes become edits at full paths', () => {
    const failing = withChange((t) => {
      t.spec.containers[0].image = 'v2';
      t.spec.nodeSelector.pool = 'b';
      t.spec.containers[0].ports[0].containerPort = 8080;
    });
    const plan = planTemplateRestore(failing, base);
    assert.ok(plan.ok);
    assert.deepEqual(plan.edits, [
      { path: ['spec', 'template', 'spec', 'containers', 0, 'image'], from: 'v2', value: 'v1' },
      { path: ['spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort'], from: 8080, value: 80 },
      { path: ['spec', 'template', 'spec', 'nodeSelector', 'pool'], from: 'b', value: 'a' },
    ]);
  });
  it('identical templates: no edits', () => assert.deepEqual(planTemplateRestore(base, structuredClone(base)), { ok: true, edits: [] }));
  const structural: Array<[string, (t: any) => void, RegExp]> = [
    ['a container added', (t) => t.spec.containers.push({ name: 'side', image: 's' }), /containers has 2 items, the restored version 1/],
    ['a key added', (t) => (t.spec.hostNetwork = true), /spec\.template\.spec\.hostNetwork would have to be removed/],
    ['a key removed', (t) => delete t.spec.nodeSelector, /nodeSelector would have to be added/],
    ['a boolean', (t) => (t.spec.containers[0].tty = false), /would have to be removed/],
    ['a type change', (t) => (t.spec.containers[0].ports[0].containerPort = '80'), /not a string or number edit/],
  ];
  for (const [name, f, re] of structural) {
    it(`structural: ${name}`, () => {
      const plan = planTemplateRestore(withChange(f), base);
      assert.equal(plan.ok, false);
      assert.match((plan as { reason: string }).reason, re);
    });
  }
  it('structural: a boolean that changes value', () => {
    const a = withChange((t) => (t.spec.containers[0].tty = true));
    const b = withChange((t) => (t.spec.containers[0].tty = false));
    const plan = planTemplateRestore(a, b);
    assert.equal(plan.ok, false);
  });
});

describe('applyTemplateRestore', () => {
  it('changes only the restored values; every other byte stays (comments, quoting, flow maps, other documents)', () => {
    const head = manifest('reg/web:2', 'gpu', 'rev=2 images=app=reg/web:2 milestone=failed');
    const good = manifest('reg/web:1', 'kwok');
    const target = templateOf(findWorkloadDocument(good, ref)!.data);
    const failing = templateOf(findWorkloadDocument(head, ref)!.data);
    const plan = planTemplateRestore(failing, target);
    assert.ok(plan.ok);
    const r = applyTemplateRestore(head, 0, plan.edits, target);
    assert.ok(r.ok, (r as { reason?: string }).reason);
    // the annotation and the rest are the failing version's; the template is the good one
    assert.equal(r.text, manifest('reg/web:1', 'kwok', 'rev=2 images=app=reg/web:2 milestone=failed'));
  });
  it('refuses when an edit cannot be surgical (an alias in the way)', () => {
    const head = 'kind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - &c {name: app, image: v2}\nextra: *c\n';
    const target = { spec: { containers: [{ name: 'app', image: 'v1' }] } };
    const plan = planTemplateRestore(templateOf(parse(head)), target);
    assert.ok(plan.ok);
    const r = applyTemplateRestore(head, 0, plan.edits, target);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /anchors and aliases/);
  });
});

describe('revert PR title and body', () => {
  it('hold the failure details: condition message, every ReplicaSet with counts, the source commit and the edits', () => {
    const st = rolloutState(deploy({ rev: 3, images: { app: 'reg/web:3' }, reason: 'ProgressDeadlineExceeded', status: 'False', message: 'ReplicaSet "web-3" has timed out progressing.' }), [
      rs({ rev: 2, desired: 4, current: 4, ready: 4, available: 4 }),
      rs({ rev: 3, desired: 1, current: 1, ready: 0, available: 0, images: { app: 'reg/web:3' } }),
    ])!;
    const target = { commit: 'a'.repeat(40), template: {}, via: 'complete' as const };
    const edits = [{ path: ['spec', 'template', 'spec', 'containers', 0, 'image'] as const, from: 'reg/web:3', value: 'reg/web:2' }];
    const title = revertTitle({ workload: 'prod/Deployment/web', target, state: st });
    assert.equal(title, 'kube-latch: revert prod/Deployment/web to the pod template of aaaaaaaaaaaa (rollout revision 3 failed)');
    const body = revertBody({ workload: 'prod/Deployment/web', cluster: 'eu-1', file: 'apps/web.yaml', target, edits: edits.map((e) => ({ ...e, path: [...e.path] })), state: st, progressDeadlineSeconds: 30 });
    for (const s of [
      'ReplicaSet "web-3" has timed out progressing.',
      '| web-3 (new) | 3 | app=reg/web:3 | 1 | 1 | 0 | 0 |',
      '| web-2 | 2 | app=registry.example/web:2 | 4 | 4 | 4 | 4 |',
      `from ${'a'.repeat(40)} — the last commit in which its rollout was \`complete\``,
      '| `spec.template.spec.containers[0].image` | `reg/web:3` | `reg/web:2` |',
      'within 30 s (ProgressDeadlineExceeded)',
      'cluster `eu-1`',
    ]) {
      assert.ok(body.includes(s), `body lacks ${s}\n${body}`);
    }
  });
});
