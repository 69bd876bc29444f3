// charts/kube-latch against a real apiserver (dev cluster): every variant passes a server-side dry-run;
// cert-manager mode and the ServiceMonitor validate against the projects' real CRDs; `helm install` and
// `helm upgrade` work and keep the self-signed CA; the chart's RBAC, asked through `kubectl auth can-i`
// as the chart's ServiceAccount, allows what the code needs and nothing more; and self-signed mode runs with
// nothing but that ServiceAccount's token.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
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
import { serviceAccountKubeconfig } from './helpers/apiserver.ts';
import { startCluster, toYaml, waitFor, type TestCluster } from './helpers/cluster.ts';
import { freePort } from '../helpers/tls.ts';

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
    const kubeconfig = await serviceAccountKubeconfig(c, tmp, ns, full);
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

  test('the watcher, configured by the chart\'s environment and holding only the ServiceAccount token, does its whole job', async () => {
    // Its container's environment as the chart renders it, with the pod's fields filled in and the paths
    // that exist only in the pod (remote, work dir, port) pointed at this machine.
    const objs = parseManifests(await renderText({ git: { url: 'https://git.example.test/org/fleet.git' } }, { namespace: ns }));
    const container = (find(objs, 'Deployment')['spec'].template.spec.containers as any[]).find((x) => x.name === 'watcher');
    const env: Record<string, string> = {};
    for (const e of container.env as any[]) {
      env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? ns : e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? 'kl-kube-latch-test-pod' : '');
    }
    const apps = await c.namespace('apps-sa');
    const remote = gitRemote(apps);
    const metricsPort = await freePort();
    Object.assign(env, {
      HOME: tmp,
      KUBE_LATCH_REPO: `file://${remote}`,
      KUBE_LATCH_WORK_DIR: join(tmp, 'work'),
      KUBE_LATCH_METRICS_PORT: String(metricsPort),
      KUBE_LATCH_SETTLE_UP: '1',
      KUBE_LATCH_BATCH_WINDOW: '0',
      KUBE_LATCH_KUBECONFIG: await serviceAccountKubeconfig(c, tmp, ns, full),
    });

    await c.apply([workload('web', apps, 2), workload('orphan', apps, 3), hpa('web', apps)]);
    const child = spawn(process.execPath, [MAIN, 'watcher'], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor('the watcher to be ready', async () => (await httpStatus(metricsPort, '/readyz')) === 200, { timeoutMs: 60_000 });
      const lease = await waitFor('the watcher to hold the Lease', async () => {
        const l = await c.getJson(['lease', env['KUBE_LATCH_LEASE_NAME']!, '-n', ns]);
        return l.spec?.holderIdentity?.startsWith('kl-kube-latch-test-pod') ? l : undefined;
      });
      assert.ok(lease);
      // Live scale far above band(2): after settle-up, the latch point is pushed to the remote.
      await c.kubectl(['scale', '-n', apps, 'deployment/web', '--replicas=20']);
      await waitFor('the latch commit on the remote', () => /replicas: 20\b/.test(gitShow(remote, 'main:apps/web.yaml')), { timeoutMs: 60_000 });
      // A workload git does not declare gets an Event (created with the token).
      await waitFor('an Event on the undeclared workload', async () => {
        const events = await c.getJson(['events', '-n', apps, '--field-selector', 'involvedObject.name=orphan']);
        return (events.items as any[]).some((e) => /kube-latch/.test(e.source?.component ?? e.reportingComponent ?? ''));
      });
      assert.doesNotMatch(output, /forbidden|\b403\b/i, 'the watcher met an RBAC denial');
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output.slice(-2000));
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

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function workload(name: string, namespace: string, replicas: number): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, 'kube-latch.io/enabled': 'true' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example.test/app:1' }] } },
    },
  };
}

function hpa(name: string, namespace: string): object {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name, namespace },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name }, minReplicas: 1, maxReplicas: 50, metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }] },
  };
}

function git(args: string[], cwd?: string): string {
  const r = spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.test', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** A bare remote whose main branch declares `web` (replicas 2) but not `orphan`. */
function gitRemote(namespace: string): string {
  const remote = join(tmp, 'remote.git');
  const seed = join(tmp, 'seed');
  git(['init', '--bare', '-q', remote]);
  git(['init', '-q', seed]);
  mkdirSync(join(seed, 'apps'));
  writeFileSync(join(seed, 'apps', 'web.yaml'), toYaml(workload('web', namespace, 2)));
  git(['add', '.'], seed);
  git(['commit', '-q', '-m', 'web'], seed);
  git(['push', '-q', remote, 'HEAD:main'], seed);
  return remote;
}

function gitShow(remote: string, what: string): string {
  return git(['--git-dir', remote, 'show', what]);
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

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
