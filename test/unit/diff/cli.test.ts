// `kube-latch diff` as a process: flags and usage errors (exit 2), and a whole run against a small fake
// apiserver on loopback (discovery plus list calls) and a local git repo: JSON, table, exit codes, the
// label selector it lists with, and exit 2 when the cluster cannot be reached.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const MAIN = join(import.meta.dirname, '../../../src/cli/main.ts');
const root = mkdtempSync(join(tmpdir(), 'kube-latch-diff-cli-'));
const repo = join(root, 'gitops');

function kubeconfig(server: string): string {
  const file = join(root, `kubeconfig-${server.replace(/\W/g, '')}`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return file;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KUBE_LATCH_') && k !== 'KUBECONFIG' && k !== 'NO_COLOR'));
    // HOME without ~/.kube/config: the machine's own kubeconfig never leaks into a case.
    const child = spawn(process.execPath, [MAIN, 'diff', ...args], { env: { ...clean, HOME: root, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const dep = (name: string, replicas: number | undefined, annotations: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'prod', uid: `uid-${name}`, labels: { 'kube-latch.io/enabled': 'true' }, annotations },
  spec: replicas === undefined ? {} : { replicas },
});

// What the fake apiserver holds.
let deployments: object[] = [];
let hpaStatus = 200;
const requests: string[] = [];
let server: Server;
let url = '';

before(async () => {
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  for (const [n, r] of [['web', 20], ['api', 20], ['db', 10]] as const) {
    writeFileSync(join(repo, 'deploy', `${n}.yaml`), `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${n}\n  namespace: prod\nspec:\n  replicas: ${r}\n`);
  }
  writeFileSync(join(repo, 'deploy/broken.yaml'), 'a: [\n');
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });

  server = createServer((req, res) => {
    requests.push(req.url!);
    const u = new URL(req.url!, 'http://x');
    const send = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (u.pathname === '/apis/argoproj.io/v1alpha1') return send(404, { kind: 'Status', code: 404 });
    if (u.pathname === '/apis/apps/v1/deployments' || u.pathname === '/apis/apps/v1/namespaces/prod/deployments') {
      return send(200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: {}, items: deployments });
    }
    if (u.pathname === '/apis/apps/v1/statefulsets' || u.pathname === '/apis/apps/v1/namespaces/prod/statefulsets') {
      return send(200, { kind: 'StatefulSetList', apiVersion: 'apps/v1', metadata: {}, items: [] });
    }
    if (u.pathname === '/apis/autoscaling/v2/horizontalpodautoscalers' || u.pathname === '/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers') {
      if (hpaStatus !== 200) return send(hpaStatus, { kind: 'Status', code: hpaStatus, message: 'forbidden' });
      return send(200, {
        kind: 'HorizontalPodAutoscalerList',
        apiVersion: 'autoscaling/v2',
        metadata: {},
        items: [{ metadata: { name: 'db', namespace: 'prod' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'db' }, minReplicas: 2, maxReplicas: 10 } }],
      });
    }
    send(404, { kind: 'Status', code: 404 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('usage errors and trouble exit 2 with one line', () => {
  const cases: { args: string[]; msg: RegExp }[] = [
    { args: [], msg: /--repo is required/ },
    { args: ['--repo', '.', '--bogus'], msg: /bogus/ },
    { args: ['--repo', '.', '--ladder', 'fib'], msg: /unknown ladder "fib"/ },
    { args: ['--repo', '.', '--tolerance', '1.2'], msg: /below 1.582/ },
    { args: ['--repo', '.', '--max-replicas', '10000000000'], msg: /--max-replicas must be at most 9999999999, got 10000000000/ },
    { args: ['--repo', '.', '--workload-namespace', 'Bad_NS'], msg: /--workload-namespace "Bad_NS" is not a namespace name/ },
    { args: ['--repo', '.', '--kubeconfig', '/nonexistent/kc'], msg: /kubeconfig \/nonexistent\/kc does not exist/ },
    { args: ['--repo', '.'], msg: /no kubeconfig: no --kubeconfig, no \$KUBECONFIG, no ~\/\.kube\/config/ },
    { args: ['--repo', '/nonexistent/repo', '--kubeconfig', '@KC'], msg: /clone \/nonexistent\/repo: .*does not exist/ },
    { args: ['--repo', 'no such thing', '--kubeconfig', '@KC'], msg: /--repo no such thing: not a git URL/ },
    { args: ['--repo', '@REPO', '--branch', 'a..b', '--kubeconfig', '@KC'], msg: /--branch "a..b" is not a valid branch name/ },
  ];
  for (const c of cases) {
    it(c.args.join(' ') || '(no flags)', async () => {
      const args = c.args.map((a) => (a === '@KC' ? kubeconfig(url) : a === '@REPO' ? repo : a));
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, c.msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }

  it('--help exits 0 and documents states and exit codes', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const s of ['in-band', 'latch-due N', 'out-of-band', 'unlocated', 'ambiguous', 'invalid-policy', 'Exit status', 'NO_COLOR', 'KUBE_LATCH_REPO']) assert.ok(r.stdout.includes(s), s);
  });
});

describe('a run against a fake apiserver', () => {
  it('all in band → exit 0; lists with the opt-in label selector', async () => {
    deployments = [dep('web', 17), dep('api', 35), dep('db', 6)];
    requests.length = 0;
    const r = await cli(['--repo', repo, '--path', 'deploy', '--json', '--kubeconfig', kubeconfig(url)]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.exitCode, 0);
    assert.deepEqual(doc.summary, { workloads: 3, inBand: 3, latchDue: 0, outOfBand: 0, unlocated: 0, ambiguous: 0, invalidPolicy: 0 });
    assert.ok(requests.some((q) => q.startsWith('/apis/apps/v1/deployments?') && q.includes('labelSelector=kube-latch.io%2Fenabled%3Dtrue')), requests.join('\n'));
    assert.deepEqual(doc.brokenFiles.map((b: { file: string }) => b.file), ['deploy/broken.yaml']);
    assert.match(doc.notes.join('\n'), /Rollout not listed/);
    assert.equal(doc.cluster, url);
  });

  it('drift → exit 1, with states in JSON and in the table; HPA bounds applied', async () => {
    deployments = [dep('web', 55), dep('api', 20, { 'kube-latch.io/ladder': 'oops' }), dep('db', 40), dep('ghost', 3)];
    const kc = kubeconfig(url);
    const j = await cli(['--repo', repo, '--path', 'deploy', '--json', '--kubeconfig', kc]);
    assert.equal(j.code, 1, j.stderr);
    const rows = Object.fromEntries(JSON.parse(j.stdout).workloads.map((w: { name: string }) => [w.name, w]));
    assert.deepEqual([rows.web.state, rows.web.latchTo], ['latch-due', 50]);
    assert.equal(rows.api.state, 'invalid-policy');
    assert.deepEqual([rows.db.state, rows.db.hpa, rows.db.policy.max], ['out-of-band', 'db', 10]);
    assert.equal(rows.ghost.state, 'unlocated');

    const t = await cli(['--repo', repo, '--path', 'deploy', '--kubeconfig', kc]);
    assert.equal(t.code, 1);
    assert.match(t.stdout, /prod\/Deployment\/web\s+20\s+55\s+10-40\s+latch-due 50\s+deploy\/web\.yaml:7/);
    assert.doesNotMatch(t.stdout, /\x1b\[/, 'no colour when stdout is not a terminal');
  });

  it('flags come from KUBE_LATCH_* env too; --workload-namespace lists one namespace', async () => {
    deployments = [dep('web', 17)];
    requests.length = 0;
    const r = await cli(['--json'], { KUBE_LATCH_REPO: repo, KUBE_LATCH_PATH: 'deploy', KUBECONFIG: kubeconfig(url), KUBE_LATCH_WORKLOAD_NAMESPACE: 'prod' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(requests.some((q) => q.startsWith('/apis/apps/v1/namespaces/prod/deployments?')), requests.join('\n'));
  });

  it("the chart's KUBE_LATCH_NAMESPACE (the pod's own namespace) does not narrow the listing", async () => {
    deployments = [dep('web', 17)];
    requests.length = 0;
    const r = await cli(['--repo', repo, '--path', 'deploy', '--json', '--kubeconfig', kubeconfig(url)], { KUBE_LATCH_NAMESPACE: 'kube-latch' });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(requests.some((q) => q.startsWith('/apis/apps/v1/deployments?')), requests.join('\n'));
    assert.ok(!requests.some((q) => q.includes('/namespaces/')), requests.join('\n'));
  });

  it('HPAs forbidden: a note, not a failure', async () => {
    deployments = [dep('web', 17)];
    hpaStatus = 403;
    try {
      const r = await cli(['--repo', repo, '--path', 'deploy', '--json', '--kubeconfig', kubeconfig(url)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(JSON.parse(r.stdout).notes.join('\n'), /cannot list HorizontalPodAutoscalers .*HPA bounds are not applied/);
    } finally {
      hpaStatus = 200;
    }
  });

  it('cluster unreachable → exit 2, one line', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const r = await cli(['--repo', repo, '--kubeconfig', kubeconfig(`http://127.0.0.1:${port}`)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^kube-latch diff: cluster http:\/\/127\.0\.0\.1:\d+: /);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
