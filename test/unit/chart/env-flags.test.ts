// The chart configures both containers only through KUBE_LATCH_* variables, and parseFlags ignores a
// variable that names no flag: so every variable the chart sets must be a real flag of the subcommand, and
// its value must pass that subcommand's own checks.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { selfSignedConfigFromFlags } from '../../../src/certs/self-signed-flags.ts';
import { envName, parseFlags } from '../../../src/cli/flags.ts';
import { parseWatcherConfig, watcherFlags } from '../../../src/cli/watcher.ts';
import { webhookFlags } from '../../../src/cli/webhook.ts';
import { find, render, type K8sObject } from './helm.ts';

const containers = (objs: K8sObject[]) => find(objs, 'Deployment').spec.template.spec.containers as any[];
const container = (objs: K8sObject[], name: string) => containers(objs).find((c) => c.name === name);

/** The container's environment as the kubelet would set it in namespace `ns` for pod `pod`. */
function podEnv(c: any, ns: string, pod = 'kl-kube-latch-abc12'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env as any[]) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    out[e.name] = e.value ?? (field === 'metadata.namespace' ? ns : field === 'metadata.name' ? pod : assert.fail(`${c.name} ${e.name}: unexpected valueFrom`));
  }
  return out;
}

test('every KUBE_LATCH_* variable is a flag of the subcommand its container runs', async () => {
  const objs = await render({
    git: { url: 'https://git.example.test/o/r.git', tokenSecret: 't', provider: 'gitlab', apiUrl: 'https://git.example.test/api/v4', path: ['a'], signing: { secret: 's' } },
  });
  const certManager = await render({ certManager: { enabled: true } });
  const known = {
    // webhookFlags is exactly what `kube-latch webhook` parses, the self-signed flags included.
    webhook: new Set(webhookFlags.map((f) => envName(f.name))),
    watcher: new Set(watcherFlags.map((f) => envName(f.name))),
  };
  for (const c of [...containers(objs), ...containers(certManager)]) {
    const flags = known[c.name as 'webhook' | 'watcher'];
    for (const e of c.env as any[]) {
      if (e.name === 'HOME' || e.name === 'POD_NAME') continue; // read by the watcher for its Lease identity, and by git/ssh
      assert.ok(flags.has(e.name), `${c.name}: ${e.name} is not a flag of kube-latch ${c.name}`);
    }
  }
});

test('the webhook parses the chart\'s environment: self-signed settings name the chart\'s objects', async () => {
  const objs = await render({ selfSigned: { caLifetime: '900h', certLifetime: 3600 }, policy: { ladder: 'sig1', tolerance: '1.5' } }, { namespace: 'latch' });
  const env = podEnv(container(objs, 'webhook'), 'latch');
  const f = parseFlags(webhookFlags, [], env);
  assert.equal(f['certs'], 'self-signed');
  // The certificate must name the Service that the apiserver calls, and caBundle go to that configuration.
  const mwc = find(objs, 'MutatingWebhookConfiguration');
  const service = mwc['webhooks'][0].clientConfig.service;
  assert.equal(service.namespace, 'latch');
  assert.deepEqual(selfSignedConfigFromFlags(f), {
    namespace: service.namespace,
    serviceName: service.name,
    webhookConfig: mwc.metadata.name,
    caSecret: find(objs, 'Secret').metadata.name,
    caLifetimeSeconds: 900 * 3600,
    certLifetimeSeconds: 3600,
    extraSans: [],
  });
  assert.equal(f['port'], '9443');
  assert.equal(f['ladder'], 'sig1');

  const cm = parseFlags(webhookFlags, [], podEnv(container(await render({ certManager: { enabled: true } }), 'webhook'), 'latch'));
  assert.equal(cm['certs'], 'file');
  assert.equal(cm['cert-dir'], '/tls');
});

test('the watcher parses the chart\'s environment (push over https, no credential files)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-latch-env-flags-'));
  try {
    // The in-cluster config exists only in a pod; a kubeconfig file stands in for it.
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'k', cluster: { server: 'https://127.0.0.1:6443' } }], users: [{ name: 'u', user: { token: 'x' } }], contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
    }));
    const objs = await render({ git: { url: 'https://git.example.test/org/fleet.git', path: ['clusters/prod'] }, watcher: { settleUp: '90s', settleDown: 7200 }, clusterName: 'eu-1' }, { namespace: 'latch' });
    const env = { ...podEnv(container(objs, 'watcher'), 'latch'), KUBE_LATCH_KUBECONFIG: kubeconfig };
    const cfg = parseWatcherConfig([], env);
    assert.notEqual(cfg, 'help');
    if (cfg === 'help') return;
    assert.equal(cfg.repo, 'https://git.example.test/org/fleet.git');
    assert.deepEqual(cfg.paths, ['clusters/prod']);
    assert.equal(cfg.settleUpMs, 90_000);
    assert.equal(cfg.settleDownMs, 7_200_000);
    assert.equal(cfg.metricsPort, 8081);
    assert.equal(cfg.clusterName, 'eu-1');
    assert.deepEqual(cfg.lease, { namespace: 'latch', name: 'kl-kube-latch-watcher' });
    assert.equal(cfg.workDir, '/var/lib/kube-latch/repo');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
