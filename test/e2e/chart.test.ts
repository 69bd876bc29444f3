// charts/kube-latch against a real apiserver (dev cluster): every variant passes a server-side dry-run;
// cert-manager mode and the ServiceMonitor validate against the projects' real CRDs; `helm install` and
// `helm upgrade` work and keep the self-signed CA; the chart's RBAC, asked through `kubectl auth can-i`
// as the chart's ServiceAccount, allows what the code needs and nothing more; and self-signed mode runs with
// nothing but that ServiceAccount's token.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { openSelfSignedSource } from '../../src/certs/self-signed.ts';
import { parseBundle } from '../../src/certs/schedule.ts';
import { createLogger } from '../../src/log.ts';
import { CHART_DIR, find, parseManifests, renderText } from '../unit/chart/helm.ts';
import { certManagerCrds, serviceMonitorCrd } from '../unit/chart/crds.ts';
import { permissionMatrix, type Expectation } from '../unit/chart/rbac.ts';
import { startCluster, toYaml, waitFor, type TestCluster } from './helpers/cluster.ts';

let c: TestCluster;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-chart-e2e-'));

before(async () => {
  c = await startCluster({ nodes: 2 });
});
after(async () => {
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function dryRun(manifest: string, namespace: string): Promise<string> {
  const r = await c.kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=kube-latch-test', '-n', namespace, '-f', '-'], { input: manifest, allowFail: true });
  assert.equal(r.code, 0, `server-side dry-run rejected the chart:\n${r.stderr}`);
  return r.stdout;
}

async function installCrds(yaml: string): Promise<void> {
  await c.kubectl(['apply', '--server-side', '--field-manager=kube-latch-test', '-f', '-'], { input: yaml });
  for (const crd of parseManifests(yaml)) {
    await c.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd.metadata.name}`]);
  }
}

describe('server-side dry-run of the rendered chart', () => {
  const variants: Record<string, Record<string, unknown>> = {
    default: {},
    'one replica, NetworkPolicy': { replicaCount: 1, networkPolicy: { enabled: true, metricsFrom: [{ podSelector: { matchLabels: { app: 'prometheus' } } }] } },
    'ssh git in pr mode': { git: { url: 'git@git.example.test:org/fleet.git', mode: 'pr', sshSecret: 'git-ssh', knownHosts: 'git.example.test ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample' } },
    'https git with a token': { git: { url: 'https://git.example.test/org/fleet.git', tokenSecret: 'git-token' } },
    'webhook only, three replicas': { watcher: { enabled: false }, replicaCount: 3 },
  };
  for (const [name, values] of Object.entries(variants)) {
    test(name, async () => {
      const ns = await c.namespace('chart-dry');
      const text = await renderText(values, { namespace: ns });
      const out = await dryRun(text, ns);
      for (const o of parseManifests(text)) assert.match(out, new RegExp(`${o.metadata.name} serverside-applied \\(server dry run\\)`), `${o.kind} ${o.metadata.name}`);
    });
  }
});

describe('optional objects against their projects\' real CRDs', () => {
  test(`certManager.enabled: Issuers and Certificates validate against cert-manager's CRDs`, async () => {
    await installCrds(await certManagerCrds());
    const ns = await c.namespace('chart-cm');
    for (const values of [{ certManager: { enabled: true } }, { certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } }]) {
      const text = await renderText(values, { namespace: ns });
      const out = await dryRun(text, ns);
      assert.match(out, /certificate\.cert-manager\.io\/kl-kube-latch-serving serverside-applied/);
    }
    // The dry-run really validates: a field cert-manager's schema forbids is refused.
    const objs = parseManifests(await renderText({ certManager: { enabled: true } }, { namespace: ns }));
    const serving = find(objs, 'Certificate', 'kl-kube-latch-serving');
    serving['spec'].privateKey.algorithm = 'DSA';
    const bad = await c.kubectl(['apply', '--server-side', '--dry-run=server', '-n', ns, '-f', '-'], { input: toYaml(serving), allowFail: true });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /privateKey\.algorithm|Unsupported value/);
  });

  test(`serviceMonitor.enabled: the ServiceMonitor validates against prometheus-operator's CRD`, async () => {
    await installCrds(serviceMonitorCrd());
    const ns = await c.namespace('chart-sm');
    const text = await renderText({ serviceMonitor: { enabled: true, interval: '15s' } }, { namespace: ns });
    assert.match(await dryRun(text, ns), /servicemonitor\.monitoring\.coreos\.com\/kl-kube-latch serverside-applied/);
  });
});

describe('helm install into the dev cluster, RBAC, and self-signed mode with the chart ServiceAccount', () => {
  let ns: string;
  const release = 'kl';
  const full = 'kl-kube-latch';
  const names = () => ({ namespace: ns, webhookConfig: full, caSecret: `${full}-self-signed-ca`, lease: `${full}-watcher` });

  before(async () => {
    ns = await c.namespace('latch');
    // kubectl resolves `rollouts.argoproj.io` through discovery, so the CRD must be served.
    await installCrds(readFileSync(fileURLToPath(new URL('../fixtures/crds/rollout.yaml', import.meta.url)), 'utf8'));
  });
  after(async () => {
    await c.helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '60s'], { allowFail: true });
  });

  test('helm install succeeds and NOTES.txt says how to opt a workload in', async () => {
    const r = await c.helm(['install', release, CHART_DIR, '-n', ns, '--set', 'git.url=https://git.example.test/org/fleet.git', '--timeout', '120s']);
    assert.match(r.stdout, /STATUS: deployed/);
    assert.match(r.stdout, /kubectl label deployment NAME kube-latch\.io\/enabled=true/);
    const mwc = await c.getJson(['mutatingwebhookconfiguration', full]);
    assert.equal(mwc.webhooks[0].failurePolicy, 'Ignore');
    assert.equal(mwc.webhooks[0].clientConfig.caBundle, undefined);
    const secret = await c.getJson(['secret', `${full}-self-signed-ca`, '-n', ns]);
    assert.equal(secret.data, undefined);
    // The Deployment is accepted and its pods pass the namespace's admission as rendered.
    await waitFor('the Deployment to have 2 replicas', async () => (await c.getJson(['deployment', full, '-n', ns])).status?.replicas === 2, { timeoutMs: 60_000 });
  });

  test('kubectl auth can-i as the chart ServiceAccount: everything needed, nothing more', async () => {
    const as = `--as=system:serviceaccount:${ns}:${full}`;
    const matrix = permissionMatrix(names(), 'apps-prod');
    const answers = await mapLimit(matrix, 6, async (row) => ({ row, allowed: await canI(row, as) }));
    const wrong = answers.filter((a) => a.allowed !== a.row.allowed).map((a) => describeRow(a.row, a.allowed));
    assert.deepEqual(wrong, [], 'rows where the apiserver disagrees with the matrix');
    assert.ok(matrix.filter((r) => r.allowed).length >= 20 && matrix.filter((r) => !r.allowed).length >= 30);
  });

  test('self-signed mode with only the ServiceAccount token fills the chart\'s CA Secret and patches caBundle', async () => {
    const kubeconfig = await serviceAccountKubeconfig(ns, full);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const source = await openSelfSignedSource({
      namespace: ns,
      serviceName: full,
      webhookConfig: full,
      caSecret: `${full}-self-signed-ca`,
      caLifetimeSeconds: 3600,
      certLifetimeSeconds: 600,
      extraSans: [],
      kubeConfig: kc,
      log: createLogger('chart-e2e', 'warn'),
    });
    try {
      const status = source.status()!;
      assert.equal(status.bundleError, undefined);
      const secret = await c.getJson(['secret', `${full}-self-signed-ca`, '-n', ns]);
      assert.ok(secret.data['ca.crt'] && secret.data['ca.key'] && secret.data['trust.crt']);
      assert.equal(secret.metadata.labels['app.kubernetes.io/managed-by'], 'Helm', 'Helm still owns the Secret');
      const mwc = await c.getJson(['mutatingwebhookconfiguration', full]);
      const bundle = parseBundle(Buffer.from(mwc.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8'));
      assert.deepEqual(bundle.map((b) => b.fingerprint), [status.caFingerprint]);
    } finally {
      await source.close();
    }
  });

  test('helm upgrade keeps the CA and the caBundle that the webhook wrote', async () => {
    const before = await c.getJson(['secret', `${full}-self-signed-ca`, '-n', ns]);
    const bundleBefore = (await c.getJson(['mutatingwebhookconfiguration', full])).webhooks[0].clientConfig.caBundle;
    assert.ok(bundleBefore);
    await c.helm(['upgrade', release, CHART_DIR, '-n', ns, '--reuse-values', '--set', 'replicaCount=3', '--set', 'policy.ladder=sig1', '--timeout', '120s']);
    const afterSecret = await c.getJson(['secret', `${full}-self-signed-ca`, '-n', ns]);
    assert.deepEqual(afterSecret.data, before.data);
    assert.equal((await c.getJson(['mutatingwebhookconfiguration', full])).webhooks[0].clientConfig.caBundle, bundleBefore);
    assert.equal((await c.getJson(['deployment', full, '-n', ns])).spec.replicas, 3);
  });
});

/** `kubectl auth can-i` for one matrix row; true for yes, false for no. */
async function canI(row: Expectation, as: string): Promise<boolean> {
  const [resource, subresource] = row.resource.split('/');
  let target = row.group && row.group !== '*' ? `${resource}.${row.group}` : resource!;
  if (row.name) target += `/${row.name}`;
  const args = ['auth', 'can-i', row.verb, target, as];
  if (subresource) args.push(`--subresource=${subresource}`);
  args.push(...(row.namespace ? ['-n', row.namespace] : ['--all-namespaces']));
  const r = await c.kubectl(args, { allowFail: true });
  const answer = r.stdout.trim().split('\n').pop();
  if (answer === 'yes' && r.code === 0) return true;
  if (answer === 'no' && r.code === 1) return false;
  throw new Error(`kubectl ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
}

function describeRow(row: Expectation, got: boolean): string {
  return `${row.verb} ${row.group || 'core'}/${row.resource}${row.name ? '/' + row.name : ''} in ${row.namespace ?? 'all namespaces'}: apiserver says ${got ? 'yes' : 'no'}, expected ${row.allowed ? 'yes' : 'no'} (${row.why})`;
}

/** A kubeconfig that authenticates with a fresh token of the ServiceAccount, nothing else. */
async function serviceAccountKubeconfig(namespace: string, sa: string): Promise<string> {
  const token = (await c.kubectl(['create', 'token', sa, '-n', namespace, '--duration=1h'])).stdout.trim();
  const admin = new KubeConfig();
  admin.loadFromFile(c.kubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const file = join(tmp, `${sa}.kubeconfig`);
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dev', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'dev', user: sa, namespace } }],
    'current-context': 'sa',
  };
  writeFileSync(file, JSON.stringify(kc), { mode: 0o600 });
  return file;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
