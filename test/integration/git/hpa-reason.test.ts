// Git as the audit log, over a real bare remote: a due latch that carries its HPA's status (DueLatch.reason)
// is pushed with that reason on the workload's body line; one without an HPA keeps the plain line.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openGitState, type RepoGitState } from '../../../src/git/git-state.ts';
import type { Located } from '../../../src/watcher/types.ts';
import { log, makeRemote, tmpDir } from './helpers/repos.ts';

describe('latch commit body records why it latched (push mode, real remote)', () => {
  let cleanup: () => Promise<void>;
  let bare: string;
  let state: RepoGitState;
  before(async () => {
    let root: string;
    ({ dir: root, cleanup } = await tmpDir('kl-reason-'));
    bare = await makeRemote(root, {
      'apps/web.yaml': 'kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  replicas: 20\n',
      'apps/api.yaml': 'kind: Deployment\nmetadata: {name: api, namespace: prod}\nspec:\n  replicas: 2\n',
    });
    state = await openGitState({ mode: 'push', url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' });
  });
  after(() => cleanup());

  it('the HPA status follows the line of its workload', async () => {
    const web = { namespace: 'prod', kind: 'Deployment', name: 'web' };
    const api = { namespace: 'prod', kind: 'Deployment', name: 'api' };
    const at = (ref: typeof web) => state.lookup(ref) as Located;
    const r = await state.write(
      [
        { ref: web, live: 48, from: 20, band: { lo: 10, hi: 40 }, to: 50, direction: 'up', dueAt: Date.now(), location: at(web), reason: 'hpa web: cpu 92% / target 70%, desired 48' },
        { ref: api, live: 5, from: 2, band: { lo: 1, hi: 4 }, to: 5, direction: 'up', dueAt: Date.now(), location: at(api) },
      ],
      { mayPush: () => true },
    );
    assert.ok(r.ok);
    const [head] = await log(bare);
    assert.equal(head!.subject, 'kube-latch: 2 workloads relatched');
    assert.deepEqual(head!.body.split('\n\n')[0]!.split('\n').sort(), [
      'prod/Deployment/api: live 5, old band 1-4, new 5 (was 2) at apps/api.yaml:4',
      'prod/Deployment/web: live 48, old band 10-40, new 50 (was 20) at apps/web.yaml:4; hpa web: cpu 92% / target 70%, desired 48',
    ]);
  });
});
