// `kube-latch watcher` run as a process against a dev cluster and local bare repos: configured through
// KUBE_LATCH_* alone, health and metrics endpoints, a remote that only appears after the start,
// a kind the apiserver does not serve, and --mode pr against a local GitLab API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN, httpGet } from '../../../src/demo/children.ts';
import { commits, createRemote, git, head, show } from '../../../src/demo/git.ts';
import { startWatcherChild, type WatcherChild } from '../../../src/demo/watcher.ts';
import { repoSlug } from '../../../src/git/pr/index.ts';
import { startCluster, waitFor, type TestCluster } from '../../e2e/helpers/cluster.ts';
import { startGitLabStub } from '../git/helpers/pr-stubs.ts';
import { makeTls } from '../git/helpers/tls.ts';

let c: TestCluster;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-watcher-cli-cluster-'));
const running = new Set<WatcherChild>();

before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await Promise.all([...running].map((w) => w.stop('SIGKILL')));
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function manifest(name: string, ns: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
  labels: {kube-latch.io/enabled: "true"}
spec:
  paused: true
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec: {containers: [{name: app, image: example.invalid/app:1}]}
`;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBE_LATCH_') && k !== 'POD_NAMESPACE') env[k] = v;
  return { ...env, ...extra };
}

async function start(args: string[], env: Record<string, string> = {}, name = 'watcher'): Promise<WatcherChild> {
  const w = await startWatcherChild(args, { name, env: cleanEnv(env), logFile: join(c.dir, 'logs', `watcher-cli-${name}.log`) });
  running.add(w);
  return w;
}

async function stop(w: WatcherChild): Promise<number | null> {
  const exit = await w.stop('SIGTERM');
  running.delete(w);
  return exit.code;
}

test('configured through KUBE_LATCH_* alone: /readyz after the informers sync, /metrics, a latch with the configured policy and author, SIGTERM exits 0 and frees the Lease', async () => {
  const ns = await c.namespace('env');
  const remote = await createRemote(join(tmp, 'env.git'), {
    'apps/web.yaml': manifest('web', ns, 4),
    // Outside KUBE_LATCH_PATH: never discovered.
    'attic/old.yaml': manifest('old', ns, 4),
  });
  await c.apply(manifest('web', ns, 4), { serverSide: true, fieldManager: 'kustomize-controller' });
  await c.apply(manifest('old', ns, 4), { serverSide: true, fieldManager: 'kustomize-controller' });
  const w = await start([], {
    KUBE_LATCH_KUBECONFIG: c.kubeconfig,
    KUBE_LATCH_REPO: remote.url,
    KUBE_LATCH_PATH: 'apps',
    KUBE_LATCH_WORK_DIR: join(tmp, 'env-work'),
    KUBE_LATCH_SETTLE_UP: '1',
    KUBE_LATCH_BATCH_WINDOW: '500ms',
    KUBE_LATCH_LADDER: 'sig1',
    KUBE_LATCH_TOLERANCE: '1.5',
    KUBE_LATCH_LEASE_NAMESPACE: ns,
    KUBE_LATCH_LEASE_NAME: 'env-lease',
    KUBE_LATCH_AUTHOR: 'Env Bot <env-bot@example.invalid>',
    KUBE_LATCH_METRICS_PORT: '0',
    KUBE_LATCH_LOG_LEVEL: 'debug',
  });
  assert.equal((await httpGet(w.metricsPort, '/healthz')).status, 200);
  await w.ready();
  await w.waitForLog('its ready line', (l) => l.msg === 'informers synced; ready', 5_000);
  assert.ok(w.logs().some((l) => l.level === 20 && l.msg === 'configuration' && l['author'] === 'Env Bot <env-bot@example.invalid>'), 'a debug line: KUBE_LATCH_LOG_LEVEL was read');
  await waitFor('the Lease', () => w.isLeader(), { timeoutMs: 10_000 });
  assert.match((await c.getJson(['lease', 'env-lease', '-n', ns])).spec.holderIdentity, /_[0-9a-f]{8}$/);

  const metrics = (await httpGet(w.metricsPort, '/metrics')).body;
  for (const family of [
    'kube_latch_watcher_latches_total',
    'kube_latch_watcher_pending_latches',
    'kube_latch_watcher_push_failures_total',
    'kube_latch_watcher_last_push_timestamp_seconds',
    'kube_latch_watcher_unlocated_workloads',
    'kube_latch_watcher_invalid_policy_workloads',
    'kube_latch_watcher_leader',
    'kube_latch_watcher_informer_freshness_seconds',
    'kube_latch_watcher_informer_restarts_total',
    'process_resident_memory_bytes',
  ]) {
    assert.match(metrics, new RegExp(`^# TYPE ${family} `, 'm'), family);
  }
  assert.match(metrics, /^kube_latch_watcher_informer_freshness_seconds\{kind="Deployment"\} /m);
  assert.match(metrics, /^kube_latch_watcher_informer_freshness_seconds\{kind="HorizontalPodAutoscaler"\} /m);

  // sig1 with tolerance 1.5: band(4) = 3-6, and 8 is a sig1 point.
  const seed = await head(remote);
  await c.kubectl(['scale', 'deployment/web', 'deployment/old', '--replicas=8', '-n', ns]);
  await waitFor('the latch commit', async () => (await head(remote)) !== seed, { timeoutMs: 20_000, intervalMs: 100 });
  const [last] = await commits(remote, 1);
  assert.equal(last!.subject, `kube-latch: ${ns}/Deployment/web replicas 4 → 8`);
  assert.equal(`${last!.author} <${last!.email}>`, 'Env Bot <env-bot@example.invalid>');
  assert.equal(await show(remote, 'attic/old.yaml'), manifest('old', ns, 4), 'a file outside KUBE_LATCH_PATH is never written');
  await waitFor('the latch counted', async () => (await w.metric('kube_latch_watcher_latches_total', { direction: 'up' })) === 1);
  assert.ok((await w.metric('kube_latch_watcher_last_push_timestamp_seconds'))! > 0);
  assert.ok((await w.metric('kube_latch_watcher_unlocated_workloads', { reason: 'none' }))! >= 1, 'old is unlocated');

  assert.equal(await stop(w), 0);
  assert.ok(w.logs().some((l) => l.msg === 'released the lease'));
  assert.equal((await c.getJson(['lease', 'env-lease', '-n', ns])).spec.holderIdentity ?? '', '');
  await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

test('a remote that is down at start: /readyz 503 while git is unreachable, then ready and latching once it appears', async () => {
  const ns = await c.namespace('late');
  await c.apply(manifest('web', ns, 4), { serverSide: true, fieldManager: 'kustomize-controller' });
  const bare = join(tmp, 'late.git');
  const w = await start(['--kubeconfig', c.kubeconfig, '--repo', `file://${bare}`, '--settle-up', '1', '--batch-window', '0.5', '--lease-namespace', ns]);
  await w.waitForLog('a failed attempt', (l) => l.msg === 'git remote not reachable; retrying', 10_000);
  const r = await httpGet(w.metricsPort, '/readyz');
  assert.equal(r.status, 503);
  assert.match(r.body, /^git not reachable yet: .*late\.git/);

  const remote = await createRemote(bare, { 'web.yaml': manifest('web', ns, 4) });
  await w.ready(60_000);
  await c.kubectl(['scale', 'deployment/web', '--replicas=9', '-n', ns]);
  await waitFor('the latch commit', async () => (await commits(remote)).length === 2, { timeoutMs: 20_000, intervalMs: 100 });
  assert.match(await show(remote, 'web.yaml'), /replicas: 10\n/);
  assert.equal(await stop(w), 0);
  await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

test('--workload-kind naming a kind the apiserver does not serve exits 2 with one line', async () => {
  const remote = await createRemote(join(tmp, 'kinds.git'), { 'README.md': 'nothing\n' });
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [CLI_MAIN, 'watcher', '--kubeconfig', c.kubeconfig, '--repo', remote.url, '--work-dir', join(tmp, 'kinds-work'), '--metrics-port', '0', '--workload-kind', 'apps.example.com/v1/Widget', '--workload-kind', 'apps/v1/ReplicaSet'],
      { env: cleanEnv({}), timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^kube-latch watcher: cannot watch apps\.example\.com\/v1\/Widget \(apps\.example\.com\/v1 is not served/);
});

test('--mode pr: the latch goes to the branch kube-latch/<cluster> and one merge request (a local GitLab API), never to main', async () => {
  const ns = await c.namespace('pr');
  const remote = await createRemote(join(tmp, 'acme', 'platform.git'), { 'apps/web.yaml': manifest('web', ns, 4) });
  await c.apply(manifest('web', ns, 4), { serverSide: true, fieldManager: 'kustomize-controller' });
  const tls = makeTls();
  const caFile = join(tmp, 'gitlab-ca.pem');
  writeFileSync(caFile, tls.ca);
  const tokenFile = join(tmp, 'gitlab-token');
  writeFileSync(tokenFile, 'glpat-local-test-token\n', { mode: 0o600 });
  const stub = await startGitLabStub(tls, 'glpat-local-test-token', repoSlug(remote.url));
  try {
    const w = await start(
      ['--kubeconfig', c.kubeconfig, '--repo', remote.url, '--mode', 'pr', '--provider', 'gitlab', '--api-url', stub.apiUrl, '--token-file', tokenFile, '--cluster-name', 'eu-1'],
      { KUBE_LATCH_SETTLE_UP: '1', KUBE_LATCH_BATCH_WINDOW: '0.5', KUBE_LATCH_LEASE_NAMESPACE: ns, NODE_EXTRA_CA_CERTS: caFile },
      'watcher-pr',
    );
    await w.ready();
    const seed = await head(remote);
    await c.kubectl(['scale', 'deployment/web', '--replicas=9', '-n', ns]);
    const mr = await waitFor('a merge request', () => stub.prs[0], { timeoutMs: 30_000, intervalMs: 100 });
    assert.equal(mr.head, 'kube-latch/eu-1');
    assert.equal(mr.base, 'main');
    assert.equal(mr.title, `kube-latch: ${ns}/Deployment/web replicas 4 → 10`);
    assert.match(mr.body, /web/);
    assert.equal(await head(remote), seed, 'main is untouched in pr mode');
    assert.match(await git(remote.dir, ['show', 'kube-latch/eu-1:apps/web.yaml']), /replicas: 10\n/);
    assert.ok(!w.logs().some((l) => JSON.stringify(l).includes('glpat-local-test-token')), 'the token is never logged');
    assert.equal(await stop(w), 0);
    assert.equal(stub.prs.length, 1, 'one merge request');
  } finally {
    await stub.stop();
  }
  await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
});
