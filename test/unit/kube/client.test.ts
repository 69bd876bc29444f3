import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  firstLine,
  KubeConfigError,
  loadKubeConfig,
  parseKindSpec,
  resolveWorkloadKinds,
  statusOf,
  type DiscoveredResource,
  type Discover,
} from '../../../src/kube/client.ts';

function discovery(served: Record<string, DiscoveredResource[]>): Discover {
  return async (group, version) => served[`${group}/${version}`];
}

const rollouts: DiscoveredResource[] = [
  { name: 'rollouts', kind: 'Rollout', namespaced: true },
  { name: 'rollouts/scale', kind: 'Scale', namespaced: true },
  { name: 'rollouts/status', kind: 'Rollout', namespaced: true },
];

test('kinds: Deployments and StatefulSets always; Rollouts only when argoproj.io serves them', async () => {
  const without = await resolveWorkloadKinds(discovery({}));
  assert.deepEqual(without.kinds.map((k) => k.kind), ['Deployment', 'StatefulSet']);
  assert.deepEqual(without.skipped.map((s) => [s.kind, s.configured]), [['argoproj.io/v1alpha1/Rollout', false]]);
  const withCrd = await resolveWorkloadKinds(discovery({ 'argoproj.io/v1alpha1': rollouts }));
  assert.deepEqual(withCrd.kinds.map((k) => `${k.group}/${k.version}/${k.plural}`), ['apps/v1/deployments', 'apps/v1/statefulsets', 'argoproj.io/v1alpha1/rollouts']);
  assert.deepEqual(withCrd.skipped, []);
});

test('kinds: an extra kind needs to be served, namespaced, and to have a scale subresource', async () => {
  const served = {
    'apps.example.com/v1': [
      { name: 'widgets', kind: 'Widget', namespaced: true },
      { name: 'widgets/scale', kind: 'Scale', namespaced: true },
      { name: 'gadgets', kind: 'Gadget', namespaced: true },
      { name: 'globals', kind: 'Global', namespaced: false },
      { name: 'globals/scale', kind: 'Scale', namespaced: false },
    ],
  };
  const r = await resolveWorkloadKinds(discovery(served), [
    'apps.example.com/v1/Widget',
    'apps.example.com/v1/Gadget',
    'apps.example.com/v1/Global',
    'apps.example.com/v1/Nope',
    'other.example.com/v2beta1/Thing',
    'apps/v1/Deployment',
  ]);
  assert.deepEqual(r.kinds.map((k) => k.kind), ['Deployment', 'StatefulSet', 'Widget']);
  assert.deepEqual(
    r.skipped.filter((s) => s.configured).map((s) => [s.kind, s.reason]),
    [
      ['apps.example.com/v1/Gadget', 'Gadget has no scale subresource'],
      ['apps.example.com/v1/Global', 'Global is cluster-scoped; workloads must be namespaced'],
      ['apps.example.com/v1/Nope', 'apps.example.com/v1 has no kind Nope'],
      ['other.example.com/v2beta1/Thing', 'other.example.com/v2beta1 is not served (CRD not installed?)'],
    ],
  );
});

test('kinds: parseKindSpec accepts group/version/Kind only', () => {
  assert.deepEqual(parseKindSpec('apps.example.com/v1beta2/Widget'), { group: 'apps.example.com', version: 'v1beta2', kind: 'Widget' });
  for (const bad of ['Widget', 'apps/Widget', 'apps/v1/widget', 'apps/one/Widget', '/v1/Widget']) {
    assert.throws(() => parseKindSpec(bad), KubeConfigError, bad);
  }
});

test('kubeconfig: a file loads; a missing file or no cluster is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-kc-'));
  try {
    const file = join(dir, 'config');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: false}}]',
        'users: [{name: u, user: {token: "t0ps3cret"}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    assert.equal(loadKubeConfig(file).getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    assert.throws(() => loadKubeConfig(join(dir, 'nope')), /kubeconfig .*nope does not exist/);
    assert.throws(() => loadKubeConfig(undefined, {}), /no kubeconfig: no --kubeconfig, no \$KUBECONFIG, no ~\/\.kube\/config, and not running in a cluster/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: status codes from ApiException and watch errors; one-line messages', () => {
  assert.equal(statusOf(Object.assign(new Error('x'), { code: 409 })), 409);
  assert.equal(statusOf(Object.assign(new Error('x'), { statusCode: 410 })), 410);
  assert.equal(statusOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), undefined);
  assert.equal(statusOf('nope'), undefined);
  assert.equal(firstLine(Object.assign(new Error('Forbidden\nbody: {...}'), { code: 403 })), 'HTTP 403: Forbidden');
});
