// Commit titles and bodies (DESIGN §4), PR bodies, and the trailers that carry a PR branch's changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeOutcome } from '../../../src/git/changes.ts';
import { commitMessage, parseRejected, parseTrailers, pullRequestBody, renderMessage } from '../../../src/git/message.ts';

const web: ChangeOutcome = {
  change: { type: 'replicas', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, value: 50, live: 47, band: { lo: 10, hi: 40 }, declared: 20 },
  status: 'written',
  file: 'apps/web.yaml',
  line: 10,
  from: 20,
};
const api: ChangeOutcome = {
  change: { type: 'replicas', ref: { namespace: 'prod', kind: 'StatefulSet', name: 'api', source: 'db/api.yaml' }, value: 5, live: 4, band: { lo: 1, hi: 2 } },
  status: 'written',
  file: 'db/api.yaml',
  line: 3,
  from: 1,
};
const rollout: ChangeOutcome = {
  change: { type: 'field', ref: { namespace: 'prod', kind: 'Deployment', name: 'web' }, path: ['metadata', 'annotations', 'kube-latch.io/rollout'], value: 'complete' },
  status: 'written',
  file: 'apps/web.yaml',
  line: 2,
  from: 'started',
};

describe('commitMessage', () => {
  it('one workload: the DESIGN title and one body line with live, old band and new value', () => {
    const m = commitMessage([web]);
    assert.equal(m.title, 'kube-latch: prod/Deployment/web replicas 20 → 50');
    assert.equal(m.body, 'prod/Deployment/web: live 47, old band 10-40, new 50 (was 20) at apps/web.yaml:10');
  });
  it('several workloads: a count in the title, one line each', () => {
    const m = commitMessage([web, api]);
    assert.equal(m.title, 'kube-latch: 2 workloads relatched');
    assert.deepEqual(m.body.split('\n'), [
      'prod/Deployment/web: live 47, old band 10-40, new 50 (was 20) at apps/web.yaml:10',
      'prod/StatefulSet/api: live 4, old band 1-2, new 5 (was 1) at db/api.yaml:3',
    ]);
  });
  it('an annotation change', () => {
    assert.equal(commitMessage([rollout]).title, 'kube-latch: prod/Deployment/web annotation kube-latch.io/rollout → complete');
    assert.equal(commitMessage([web, rollout]).title, 'kube-latch: 2 changes');
  });
  it('refuses an empty list (no empty commits)', () => {
    assert.throws(() => commitMessage([]));
  });
});

describe('trailers', () => {
  it('round-trip every change field', () => {
    const text = renderMessage(commitMessage([web, api, rollout]), [web.change, api.change, rollout.change]);
    assert.ok(text.startsWith('kube-latch: 3 changes\n\n'));
    assert.deepEqual(parseTrailers(text), [web.change, api.change, rollout.change]);
  });
  it('rejected changes are their own trailers: kept apart from the proposed ones', () => {
    const text = renderMessage(commitMessage([api]), [api.change], [web.change]);
    assert.deepEqual(parseTrailers(text), [api.change]);
    assert.deepEqual(parseRejected(text), [web.change]);
    assert.match(text, /\nKube-Latch-Change: .*\nKube-Latch-Rejected: /);
    assert.deepEqual(parseRejected(renderMessage(commitMessage([api]), [api.change])), []);
  });
  it('a push-mode message has none', () => {
    assert.deepEqual(parseTrailers(renderMessage(commitMessage([web]))), []);
    assert.equal(renderMessage(commitMessage([web])), 'kube-latch: prod/Deployment/web replicas 20 → 50\n\nprod/Deployment/web: live 47, old band 10-40, new 50 (was 20) at apps/web.yaml:10\n');
  });
  it('malformed trailers are skipped', () => {
    const t = 'x\n\nKube-Latch-Change: {not json\nKube-Latch-Change: {"t":"replicas","ns":"a","kind":"K","name":"n","value":-1}\nKube-Latch-Change: {"t":"replicas","ns":"a","kind":"K","name":"n","value":2}\n';
    assert.deepEqual(parseTrailers(t), [{ type: 'replicas', ref: { namespace: 'a', kind: 'K', name: 'n' }, value: 2 }]);
  });
});

describe('pullRequestBody', () => {
  it('a table row per workload with live, old band and new value', () => {
    const body = pullRequestBody([web, api], { cluster: 'eu-1' });
    assert.match(body, /cluster `eu-1`/);
    assert.ok(body.includes('| prod/Deployment/web | 47 | 10-40 | 20 → **50** | `apps/web.yaml:10` |'));
    assert.ok(body.includes('| prod/StatefulSet/api | 4 | 1-2 | 1 → **5** | `db/api.yaml:3` |'));
  });
});
