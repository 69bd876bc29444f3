// The honest limits behind docs/helm.md (issue 12 §4): writes that leave out spec.replicas without being
// an apply reach the webhook as replicas 1, because the apiserver defaults the field before admission.
// Nothing in the request tells that 1 from a real one, so git's change wins and live drops to 1. Shown on a
// real control plane (dev cluster) whose apiserver calls the webhook (`kube-latch webhook`, a local process)
// through a capturing relay, so each test reads the AdmissionReview the apiserver really sent. The HPA's
// part is played by `kubectl scale` (the /scale subresource); the real HPA controller of
// kube-controller-manager restores an HPA's minReplicas.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCluster, toYaml, waitFor, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, ENABLED_LABEL, registerWebhook, startCapturingProxy, startLocalWebhook, type CapturingProxy, type LocalWebhook, type Registration } from './helpers/webhook.ts';

const MIN = 'kube-latch.io/min-replicas';
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-limits-e2e-'));
const MWC = `kube-latch-limits-e2e-${randomBytes(3).toString('hex')}`;
let c: TestCluster;
let wh: LocalWebhook | undefined;
let proxy: CapturingProxy | undefined;
let reg: Registration | undefined;
let ns = '';

before(async () => {
  c = await startCluster({ nodes: 1 });
  ns = await c.namespace('limits', { 'kube-latch-e2e': 'limits' });
  wh = await startLocalWebhook({ cluster: c });
  proxy = await startCapturingProxy(wh);
  reg = await registerWebhook(c, {
    url: proxy.url,
    caBundle: proxy.caPem,
    name: MWC,
    namespaceSelector: { matchLabels: { 'kube-latch-e2e': 'limits' } },
    probeNamespace: ns,
  });
});

after(async () => {
  await reg?.remove().catch(() => {});
  await proxy?.close();
  await wh?.stop();
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Live {
  metadata: { annotations?: Record<string, string> };
  spec: { replicas: number };
}
const live = async (name: string): Promise<Live> => c.getJson(['-n', ns, 'deployment', name]);
const scale = (name: string, n: number) => c.kubectl(['scale', '-n', ns, `deployment/${name}`, `--replicas=${n}`]);

/** The last UPDATE of this Deployment that the apiserver sent the webhook, and the webhook's answer. */
function lastUpdate(name: string): { sent: number | undefined; old: number | undefined; replicasPatched: boolean } {
  const ex = proxy!.exchanges.filter((e) => e.review?.request?.operation === 'UPDATE' && e.review.request.name === name && e.review.request.namespace === ns).at(-1);
  assert.ok(ex, `the webhook saw an UPDATE of ${name}`);
  const patch = ex.response.response.patch ? JSON.parse(Buffer.from(ex.response.response.patch, 'base64').toString('utf8')) : [];
  return {
    sent: ex.review.request.object.spec.replicas,
    old: ex.review.request.oldObject.spec.replicas,
    replicasPatched: patch.some((op: { path: string }) => op.path === '/spec/replicas'),
  };
}

function deployment(name: string, o: { replicas?: number; annotations?: Record<string, string> } = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name, [ENABLED_LABEL]: 'true' }, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: {
      ...(o.replicas === undefined ? {} : { replicas: o.replicas }),
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    },
  };
}

function hpa(name: string, min: number): object {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace: ns },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: min,
      maxReplicas: 50,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
    },
  };
}

/** `kubectl replace` of a manifest (PUT of the whole object), returning kubectl's stderr (the warnings). */
// kubectl replace reads the live resourceVersion and PUTs with it; the deployment controller's status write
// after a scale can land in between (409 Conflict). An operator reruns it; so does this helper, a few times.
async function replace(manifest: object, extra: string[] = []): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const r = await c.kubectl(['replace', ...extra, '-f', '-'], { input: toYaml(manifest), allowFail: true });
    if (r.code === 0) return r.stderr;
    if (attempt >= 5 || !/\(Conflict\)/.test(r.stderr)) throw new Error(`kubectl replace exited ${r.code}: ${r.stderr.trim()}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe('Helm 3: a chart that stops rendering replicas (the helm create scaffold with autoscaling.enabled)', () => {
  let chart = '';
  before(async () => {
    // The real scaffold of the helm binary, opted in, and with a value for the Deployment's annotations.
    await c.helm(['create', join(tmp, 'web')]);
    chart = join(tmp, 'web');
    const file = join(chart, 'templates', 'deployment.yaml');
    const text = readFileSync(file, 'utf8');
    const labels = '    {{- include "web.labels" . | nindent 4 }}\n';
    assert.ok(text.includes(labels) && text.includes('  {{- if not .Values.autoscaling.enabled }}\n  replicas: {{ .Values.replicaCount }}'), 'the scaffold renders replicas only without autoscaling');
    writeFileSync(
      file,
      text.replace(labels, `${labels}    ${ENABLED_LABEL}: "true"\n  {{- with .Values.deploymentAnnotations }}\n  annotations:\n    {{- toYaml . | nindent 4 }}\n  {{- end }}\n`),
    );
  });

  /** install with replicaCount 20, the HPA's scale to 17, then the upgrade that enables autoscaling */
  async function enableAutoscaling(release: string, set: string[]): Promise<string> {
    await c.helm(['upgrade', '--install', release, chart, '-n', ns, '--set', 'replicaCount=20', ...set]);
    assert.equal((await live(`${release}-web`)).spec.replicas, 20);
    await scale(`${release}-web`, 17);
    const up = await c.helm(['upgrade', release, chart, '-n', ns, '--set', 'replicaCount=20', '--set', 'autoscaling.enabled=true', ...set]);
    const manifest = (await c.helm(['get', 'manifest', release, '-n', ns])).stdout;
    assert.doesNotMatch(manifest, /^\s*replicas:/m, 'the upgraded release renders no replicas');
    return up.stdout + up.stderr;
  }

  test('helm 3: the upgrade reaches the webhook as a declared 1, which git wins with: live 17 becomes 1', async () => {
    await enableAutoscaling('plain', []);
    // Helm's three-way merge patch sets replicas to null; the apiserver defaults it to 1 before admission.
    assert.deepEqual(lastUpdate('plain-web'), { sent: 1, old: 17, replicasPatched: false });
    const l = await live('plain-web');
    assert.equal(l.spec.replicas, 1, 'the scaffold HPA (minReplicas 1) does not bring it back');
    assert.equal(l.metadata.annotations?.[DECLARED], '1', 'the webhook took 1 as what git declares');
  });

  test('helm 3: kube-latch.io/min-replicas rendered by the chart is what guards it: the webhook clamps the declared 1 to 10', async () => {
    const out = await enableAutoscaling('guarded', ['--set-string', `deploymentAnnotations.kube-latch\\.io/min-replicas=10`]);
    assert.equal(lastUpdate('guarded-web').sent, 1);
    assert.equal((await live('guarded-web')).spec.replicas, 10);
    assert.match(out, /kube-latch: set replicas 10 \(declared 1/);
  });

  test('helm 3: the chart HPA’s minReplicas is honoured by the HPA controller, not the webhook: 1 first, then back to 10', async () => {
    await enableAutoscaling('hpamin', ['--set', 'autoscaling.minReplicas=10']);
    assert.deepEqual(lastUpdate('hpamin-web'), { sent: 1, old: 17, replicasPatched: false }, 'the webhook let the 1 through');
    await waitFor('the HPA controller to scale hpamin-web up to its minReplicas', async () => (await live('hpamin-web')).spec.replicas === 10, { timeoutMs: 90_000, intervalMs: 500 });
  });
});

describe('kubectl replace of a manifest without replicas', () => {
  test('kubectl replace: the PUT reaches the webhook as a declared 1: live 17 becomes 1', async () => {
    await c.apply(deployment('rep', { replicas: 20 }));
    await scale('rep', 17);
    await replace(deployment('rep'));
    assert.deepEqual(lastUpdate('rep'), { sent: 1, old: 17, replicasPatched: false });
    assert.equal((await live('rep')).spec.replicas, 1);
  });

  test('kubectl replace: min-replicas in the manifest guards it (10); set only on the live object, the replace removes it', async () => {
    await c.apply(deployment('rep-min', { replicas: 20, annotations: { [MIN]: '10' } }));
    await scale('rep-min', 17);
    const warned = await replace(deployment('rep-min', { annotations: { [MIN]: '10' } }));
    assert.match(warned, /kube-latch: set replicas 10 \(declared 1/);
    assert.equal((await live('rep-min')).spec.replicas, 10);

    await c.apply(deployment('rep-annotated', { replicas: 20 }));
    await c.kubectl(['annotate', '-n', ns, 'deployment/rep-annotated', `${MIN}=10`]);
    await scale('rep-annotated', 17);
    await replace(deployment('rep-annotated'));
    const l = await live('rep-annotated');
    assert.equal(l.metadata.annotations?.[MIN], undefined);
    assert.equal(l.spec.replicas, 1);
  });

  test('kubectl replace: an HPA’s minReplicas is restored by the HPA controller after the webhook let the 1 through', async () => {
    await c.apply([deployment('rep-hpa', { replicas: 20 }), hpa('rep-hpa', 10)]);
    await scale('rep-hpa', 17);
    await replace(deployment('rep-hpa'));
    assert.deepEqual(lastUpdate('rep-hpa'), { sent: 1, old: 17, replicasPatched: false });
    await waitFor('the HPA controller to scale rep-hpa up to its minReplicas', async () => (await live('rep-hpa')).spec.replicas === 10, { timeoutMs: 90_000, intervalMs: 500 });
  });

  test('kubectl replace --save-config records last-applied, so the drop is seen (rule undeclared) and live 17 is kept', async () => {
    await c.apply(deployment('rep-saved', { replicas: 20 })); // client-side apply: last-applied has replicas 20
    await scale('rep-saved', 17);
    const warned = await replace(deployment('rep-saved'), ['--save-config']);
    assert.match(warned, /kube-latch: kept replicas 17 \(replicas undeclared/);
    assert.equal((await live('rep-saved')).spec.replicas, 17);
  });
});
