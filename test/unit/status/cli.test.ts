// `kube-latch status` as a process against a small fake apiserver on loopback (discovery and list calls)
// and a local git repo: the namespace it lists (-n, -A, the kubeconfig context's), "due in N s" from the
// managedFields time of spec.replicas, LAST LATCH from git log, and the flag errors (exit 2).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const MAIN = join(import.meta.dirname, '../../../src/cli/main.ts');
const root = mkdtempSync(join(tmpdir(), 'kube-latch-status-cli-'));
const repo = join(root, 'gitops');
const gitEnv = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.test', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.test' };

function kubeconfig(server: string, namespace?: string): string {
  const file = join(root, `kubeconfig-${namespace ?? 'none'}`);
  const ctx = namespace ? `{cluster: c, user: u, namespace: ${namespace}}` : '{cluster: c, user: u}';
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: ${ctx}}]\ncurrent-context: x\n`);
  return file;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KUBE_LATCH_') && k !== 'KUBECONFIG' && k !== 'NO_COLOR'));
    const child = spawn(process.execPath, [MAIN, 'status', ...args], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const scaledAt = new Date(Date.now() - 1000_000).toISOString().replace(/\.\d+Z$/, 'Z'); // 1000 s ago
const dep = (namespace: string, name: string, replicas: number, managedFields: object[] = []) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, uid: `uid-${name}`, labels: { 'kube-latch.io/enabled': 'true' }, annotations: {}, managedFields },
  spec: { replicas },
});
const items: Record<string, object[]> = {
  prod: [
    dep('prod', 'web', 17),
    dep('prod', 'api', 48, [
      { manager: 'kubectl', operation: 'Update', time: '2026-01-01T00:00:00Z', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      { manager: 'kube-controller-manager', operation: 'Update', subresource: 'scale', time: scaledAt, fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
    ]),
  ],
  dev: [dep('dev', 'web', 1)],
};
const requests: string[] = [];
let server: Server;
let url = '';

before(async () => {
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  for (const [ns, n, r] of [['prod', 'web', 20], ['prod', 'api', 20], ['dev', 'web', 1]] as const) {
    writeFileSync(join(repo, 'deploy', `${ns}-${n}.yaml`), `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${n}\n  namespace: ${ns}\nspec:\n  replicas: ${r}\n`);
  }
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: gitEnv });
  execFileSync('git', ['add', '-A'], { cwd: repo, env: gitEnv });
  execFileSync('git', ['commit', '-q', '-m', 'kube-latch: prod/Deployment/web replicas 10 → 20', '-m', 'prod/Deployment/web: live 19, old band 5-20, new 20 (was 10)'], { cwd: repo, env: { ...gitEnv, GIT_COMMITTER_DATE: '2026-11-30T10:00:00+00:00' } });

  server = createServer((req, res) => {
    requests.push(req.url!);
    const u = new URL(req.url!, 'http://x');
    const send = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const m = /^\/apis\/(apps\/v1|autoscaling\/v2)(?:\/namespaces\/([^/]+))?\/(deployments|statefulsets|horizontalpodautoscalers)$/.exec(u.pathname);
    if (!m) return send(404, { kind: 'Status', code: 404 });
    const list = m[3] === 'deployments' ? (m[2] ? (items[m[2]] ?? []) : Object.values(items).flat()) : [];
    send(200, { kind: 'List', apiVersion: m[1], metadata: {}, items: list });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('kube-latch status against a fake apiserver', () => {
  it('-n prod: the namespaced list; due in N s from the newest managedFields time owning replicas; last latch from git', async () => {
    requests.length = 0;
    const r = await cli(['--repo', repo, '--kubeconfig', kubeconfig(url), '-n', 'prod', '-o', 'json', '--settle-up', '3600']);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout);
    const by = Object.fromEntries(doc.workloads.map((w: any) => [w.name, w]));
    assert.deepEqual(Object.keys(by), ['api', 'web']);
    assert.equal(by.api.state, 'latch-due');
    assert.equal(by.api.latchTo, 50);
    assert.ok(by.api.dueInSeconds > 2500 && by.api.dueInSeconds <= 2600, String(by.api.dueInSeconds));
    assert.deepEqual([by.web.state, by.web.location, by.web.lastLatch], ['in-band', 'deploy/prod-web.yaml:7', '2026-11-30T10:00:00+00:00']);
    assert.ok(requests.some((q) => q.startsWith('/apis/apps/v1/namespaces/prod/deployments?')), requests.join(' '));
    assert.ok(requests.every((q) => !q.startsWith('/apis/apps/v1/deployments')));
  });

  it('neither -n nor -A: the context namespace when it names one, else all', async () => {
    const ctx = JSON.parse((await cli(['--repo', repo, '--kubeconfig', kubeconfig(url, 'dev'), '-o', 'json'])).stdout);
    assert.deepEqual(ctx.workloads.map((w: any) => `${w.namespace}/${w.name}`), ['dev/web']);
    const none = JSON.parse((await cli(['--repo', repo, '--kubeconfig', kubeconfig(url), '-o', 'json'])).stdout);
    assert.deepEqual(none.workloads.map((w: any) => `${w.namespace}/${w.name}`), ['dev/web', 'prod/api', 'prod/web']);
    const all = JSON.parse((await cli(['--repo', repo, '--kubeconfig', kubeconfig(url, 'dev'), '-A', '-o', 'json'])).stdout);
    assert.equal(all.workloads.length, 3, '-A overrides the context namespace');
  });

  it('--state in-band -A: exit 0 and only those rows; the table names no colour when piped', async () => {
    const r = await cli(['--repo', repo, '--kubeconfig', kubeconfig(url), '-A', '--state', 'in-band']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.deepEqual(lines.slice(0, 3).map((l) => l.split(/\s+/).slice(0, 3).join(' ')), ['NAMESPACE KIND NAME', 'dev Deployment web', 'prod Deployment web']);
    assert.match(lines[3]!, /^note: argoproj\.io\/v1alpha1\/Rollout not listed/, 'kinds the cluster lacks are noted, as diff does');
    assert.doesNotMatch(r.stdout, /\x1b\[/);
  });

  const usage: [string, string[], RegExp][] = [
    ['-n with -A', ['-n', 'x', '-A'], /exclude each other/],
    ['an unknown state', ['--state', 'ok'], /--state must be one of in-band, latch-due, pending-pr/],
    ['an unknown output', ['-o', 'wide'], /-o\/--output must be one of table, json, yaml/],
    ['a bad namespace', ['-n', 'Not_A_NS'], /is not a namespace name/],
    ['a bad settle time', ['--settle-up', 'soon'], /--settle-up must be seconds/],
    ['no --repo', [], /--repo is required/],
  ];
  for (const [name, args, msg] of usage) {
    it(`exit 2 with one line: ${name}`, async () => {
      const r = await cli([...(args.length ? ['--repo', repo] : []), '--kubeconfig', kubeconfig(url), ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    });
  }
});
