// Issue 24 (third review), items 2 and 7, through a real kube-apiserver that calls the webhook:
// - who may set kube-latch.io/latched: a `kubectl replace` of exported YAML, or an annotate by anyone but
//   the watcher's field manager, gets the old object's marker back (DESIGN §3), so the next apply of the
//   watcher's latch point is still recognised as git catching up;
// - a ten-digit bound is valid policy, yet the patch it yields must decode in the apiserver (int32), or the
//   user's apply fails even under failurePolicy Ignore.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, ENABLED_LABEL, registerWebhook, startLocalWebhook, type LocalWebhook } from './helpers/webhook.ts';

const LATCHED = 'kube-latch.io/latched';
const FLUX = { serverSide: true, fieldManager: 'kustomize-controller', force: true } as const;

let c: TestCluster;
let wh: LocalWebhook;
let ns = '';

before(async () => {
  c = await startCluster({ nodes: 1 });
  wh = await startLocalWebhook({ cluster: c });
  await registerWebhook(c, { url: wh.url, caBundle: wh.caPem });
  ns = await c.namespace('review');
});

after(async () => {
  await wh?.stop();
  await c?.stop();
});

function deployment(name: string, replicas: number, annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name, [ENABLED_LABEL]: 'true' }, annotations },
    spec: {
      paused: true,
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    },
  };
}

const live = async (name: string) => c.getJson(['-n', ns, `deployment/${name}`]);

test('a kubectl replace carrying a made-up marker keeps the watcher\'s 50; the next apply of 50 keeps live 10', async () => {
  await c.apply(deployment('web', 20), FLUX);
  await c.kubectl(['scale', '-n', ns, 'deployment/web', '--replicas=10']);
  // The watcher's marker patch after it pushed 50 (its own field manager).
  await c.kubectl(['annotate', '-n', ns, 'deployment/web', `${LATCHED}=50`, '--field-manager=kube-latch-watcher']);
  assert.equal((await live('web')).metadata.annotations[LATCHED], '50');

  // Anyone else's write of the marker gets the old one back: an annotate, and a replace of exported YAML.
  await c.kubectl(['annotate', '-n', ns, 'deployment/web', `${LATCHED}=7`, '--overwrite']);
  assert.equal((await live('web')).metadata.annotations[LATCHED], '50', 'kubectl annotate cannot set the marker');
  const exported = await live('web');
  exported.metadata.annotations[LATCHED] = '7';
  await c.kubectl(['replace', '-f', '-'], { input: JSON.stringify(exported) });
  const replaced = await live('web');
  assert.equal(replaced.metadata.annotations[LATCHED], '50', 'kubectl replace cannot set the marker');
  assert.equal(replaced.spec.replicas, 10);

  // Git catches up with the watcher: the apply of 50 is rule 3 (d = lat), so live 10 stays.
  await c.apply(deployment('web', 50), FLUX);
  const after = await live('web');
  assert.equal(after.spec.replicas, 10, 'the apply of the latch point keeps the live count');
  assert.equal(after.metadata.annotations[DECLARED], '50');
  assert.equal(after.metadata.annotations[LATCHED], undefined, 'git has moved onto the latch: marker removed');

  // The watcher's own write may remove it again after it set it.
  await c.kubectl(['annotate', '-n', ns, 'deployment/web', `${LATCHED}=100`, '--field-manager=kube-latch-watcher']);
  await c.kubectl(['annotate', '-n', ns, 'deployment/web', `${LATCHED}-`, '--field-manager=kube-latch-watcher']);
  assert.equal((await live('web')).metadata.annotations[LATCHED], undefined);
});

test('min-replicas 9999999999: the apply succeeds with replicas 2147483647 (the patch decodes), server dry-run', async () => {
  // Server-side dry-run: admission and decoding run in full, but nothing is stored, so no controller
  // starts scaling towards two billion pods.
  const r = await c.kubectl(['apply', '--server-side', '--field-manager=kustomize-controller', '--dry-run=server', '-o', 'json', '-f', '-'], {
    input: JSON.stringify(deployment('huge', 20, { 'kube-latch.io/min-replicas': '9999999999' })),
  });
  const out = JSON.parse(r.stdout);
  assert.equal(out.spec.replicas, 2_147_483_647);
  assert.equal(out.metadata.annotations[DECLARED], '20');
  assert.match(r.stderr, /kube-latch: set replicas 2147483647 \(declared 20, band 10-40, bounds 9999999999-inf\)/);
});
