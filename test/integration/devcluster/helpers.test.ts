// The shared e2e harness (test/e2e/helpers/cluster.ts) against a real dev cluster, plus the Rollout CRD
// fixture that the e2e suites install: its /scale subresource must behave like a Deployment's.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readState } from '../../../src/devcluster/index.ts';
import { startCluster, toYaml, waitFor, type TestCluster } from '../../e2e/helpers/cluster.ts';

const ROLLOUT_CRD = fileURLToPath(new URL('../../fixtures/crds/rollout.yaml', import.meta.url));

let c: TestCluster;
before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(() => c?.stop());

test('namespace() makes a fresh namespace whose default ServiceAccount exists', async () => {
  const ns = await c.namespace('helper', { team: 'a' });
  assert.match(ns, /^helper-[0-9a-f]{6}$/);
  const got = await c.getJson<{ metadata: { labels: Record<string, string> } }>(['namespace', ns]);
  assert.equal(got.metadata.labels['team'], 'a');
  assert.equal((await c.kubectl(['get', 'serviceaccount', 'default', '-n', ns])).code, 0);
});

test('apply() does client-side and server-side apply with a field manager', async () => {
  const ns = await c.namespace('apply');
  const cm = (v: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { v } });
  await c.apply(cm('1'), { namespace: ns });
  await c.apply(cm('2'), { namespace: ns, serverSide: true, fieldManager: 'kustomize-controller', force: true });
  const got = await c.getJson<{ data: { v: string }; metadata: { managedFields: { manager: string }[] } }>(['configmap', 'cfg', '-n', ns, '--show-managed-fields']);
  assert.equal(got.data.v, '2');
  assert.ok(got.metadata.managedFields.some((f) => f.manager === 'kustomize-controller'));
  const dry = await c.apply(cm('3'), { namespace: ns, serverSide: true, fieldManager: 'kustomize-controller', force: true, dryRun: 'server' });
  assert.match(dry.stdout, /serverside-applied \(server dry run\)/);
  assert.equal((await c.getJson<{ data: { v: string } }>(['configmap', 'cfg', '-n', ns])).data.v, '2');
});

test('a failing kubectl call throws with its stderr unless allowFail', async () => {
  await assert.rejects(c.kubectl(['get', 'configmap', 'does-not-exist']), /NotFound|not found/);
  const res = await c.kubectl(['get', 'configmap', 'does-not-exist'], { allowFail: true });
  assert.equal(res.code, 1);
});

test('helm installs a local chart into the cluster and reports the pinned Kubernetes minor', async () => {
  const ns = await c.namespace('helm');
  const chart = mkdtempSync(join(tmpdir(), 'kube-latch-chart-'));
  try {
    mkdirSync(join(chart, 'templates'));
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.1.0\n');
    writeFileSync(join(chart, 'values.yaml'), 'replicas: 20\n');
    writeFileSync(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  replicas: "{{ .Values.replicas }}"\n  kube: "{{ .Capabilities.KubeVersion.Version }}"\n',
    );
    await c.helm(['install', 'probe', chart, '--namespace', ns, '--wait']);
    const cm = await c.getJson<{ data: Record<string, string> }>(['configmap', 'probe', '-n', ns]);
    assert.equal(cm.data['replicas'], '20');
    assert.match(cm.data['kube'] ?? '', /^v1\.\d+\.\d+/);
    const offline = await c.helm(['template', 'probe', chart]);
    assert.match(offline.stdout, /kube: "v1\.36\.0"/, 'helm template without a cluster assumes the pinned minor');
  } finally {
    rmSync(chart, { recursive: true, force: true });
  }
});

test('the Rollout CRD fixture serves Rollouts with a working /scale subresource', async () => {
  await c.kubectl(['apply', '-f', ROLLOUT_CRD]);
  await c.kubectl(['wait', '--for=condition=Established', 'crd/rollouts.argoproj.io', '--timeout=60s']);
  const ns = await c.namespace('rollout');
  // A real Rollout manifest, with fields the minimal schema does not list.
  const rollout = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', labels: { 'kube-latch.io/enabled': 'true' } },
    spec: {
      replicas: 20,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] } },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    },
  };
  await c.apply(rollout, { namespace: ns, serverSide: true, fieldManager: 'kustomize-controller' });
  await c.kubectl(['scale', 'rollout/web', '--replicas=17', '-n', ns]);
  const got = await c.getJson<{ spec: { replicas: number; strategy: unknown } }>(['rollout', 'web', '-n', ns]);
  assert.equal(got.spec.replicas, 17);
  assert.deepEqual(got.spec.strategy, rollout.spec.strategy, 'unknown fields are kept');
  const scale = JSON.parse((await c.kubectl(['get', '--raw', `/apis/argoproj.io/v1alpha1/namespaces/${ns}/rollouts/web/scale`])).stdout) as {
    kind: string;
    spec: { replicas: number };
  };
  assert.deepEqual([scale.kind, scale.spec.replicas], ['Scale', 17]);
});

test('waitFor() returns the first truthy value and names what it waited for on timeout', async () => {
  let n = 0;
  assert.equal(await waitFor('n to reach 3', () => (++n >= 3 ? n : false), { intervalMs: 1 }), 3);
  await assert.rejects(waitFor('never', () => false, { timeoutMs: 50, intervalMs: 5 }), /timed out after 50 ms waiting for never/);
});

test('toYaml() joins several objects into one multi-document stream', () => {
  assert.equal(toYaml([{ a: 1 }, { b: 2 }]), 'a: 1\n---\nb: 2\n');
  assert.equal(toYaml('kind: X\n'), 'kind: X\n');
});

test('KUBE_LATCH_E2E_DIR joins a running cluster, and stop() leaves it running', async () => {
  const before = readState(c.dir);
  process.env['KUBE_LATCH_E2E_DIR'] = c.dir;
  try {
    const joined = await startCluster();
    assert.equal(joined.server, c.server);
    await joined.stop();
    assert.deepEqual(readState(c.dir)?.processes, before?.processes);
    assert.equal((await c.kubectl(['get', '--raw', '/readyz'])).stdout, 'ok');
  } finally {
    delete process.env['KUBE_LATCH_E2E_DIR'];
  }
});

