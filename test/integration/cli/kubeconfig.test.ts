// Issue 12 §5: every command that talks to a cluster finds its configuration as kubectl does:
// --kubeconfig, then $KUBECONFIG (a colon-separated list, merged first-wins), then ~/.kube/config, then
// in-cluster; --context selects a context. Each case runs the real CLI with a temp HOME against two
// small loopback apiservers (A and B, answering discovery and the list calls diff makes), and checks
// which one was asked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN } from '../../../src/demo/children.ts';
import { parseWatcherConfig } from '../../../src/cli/watcher.ts';

const root = mkdtempSync(join(tmpdir(), 'kube-latch-kubeconfig-'));
const repo = join(root, 'gitops');
const servers: Record<'A' | 'B', { server: Server; url: string; hits: number }> = {} as never;

function apiserver(): Promise<{ server: Server; url: string; hits: number }> {
  const s = { server: undefined as unknown as Server, url: '', hits: 0 };
  s.server = createServer((req, res) => {
    s.hits++;
    const path = new URL(req.url!, 'http://x').pathname;
    const list = (kind: string, apiVersion: string) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind, apiVersion, metadata: {}, items: [] }));
    };
    if (path === '/apis/apps/v1/deployments') return list('DeploymentList', 'apps/v1');
    if (path === '/apis/apps/v1/statefulsets') return list('StatefulSetList', 'apps/v1');
    if (path === '/apis/autoscaling/v2/horizontalpodautoscalers') return list('HorizontalPodAutoscalerList', 'autoscaling/v2');
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', code: 404 }));
  });
  return new Promise((r) => s.server.listen(0, '127.0.0.1', () => r(Object.assign(s, { url: `http://127.0.0.1:${(s.server.address() as AddressInfo).port}` }))));
}

/** A kubeconfig file with the given contexts (name → server letter) and current-context. */
function kubeconfig(file: string, contexts: Record<string, 'A' | 'B'>, current?: string): string {
  const names = Object.keys(contexts);
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [${names.map((n) => `{name: cl-${n}, cluster: {server: "${servers[contexts[n]!].url}", insecure-skip-tls-verify: true}}`).join(', ')}]`,
    `users: [${names.map((n) => `{name: u-${n}, user: {token: t}}`).join(', ')}]`,
    `contexts: [${names.map((n) => `{name: ${n}, context: {cluster: cl-${n}, user: u-${n}}}`).join(', ')}]`,
    ...(current ? [`current-context: ${current}`] : []),
    '',
  ].join('\n');
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, yaml);
  return file;
}

/** A fresh HOME, optionally with ~/.kube/config. */
function home(name: string, contexts?: Record<string, 'A' | 'B'>, current?: string): string {
  const h = join(root, name);
  mkdirSync(h, { recursive: true });
  if (contexts) kubeconfig(join(h, '.kube', 'config'), contexts, current);
  return h;
}

/** The environment of a new user: no KUBE_LATCH_*, no KUBECONFIG, not in a cluster, HOME as given. */
function envFor(h: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('KUBE_LATCH_') || k === 'KUBECONFIG' || k === 'KUBERNETES_SERVICE_HOST' || k === 'NO_COLOR') continue;
    env[k] = v;
  }
  return { ...env, HOME: h, ...extra };
}

function cli(args: string[], env: NodeJS.ProcessEnv, cwd = repo): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs `kube-latch diff --repo . --json` and returns the server it reported and asked. */
async function diffAsks(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<'A' | 'B'> {
  const before = { A: servers.A.hits, B: servers.B.hits };
  const r = await cli(['diff', '--repo', '.', '--json', ...extra], env);
  assert.equal(r.code, 0, r.stderr);
  const cluster = JSON.parse(r.stdout).cluster as string;
  const which = cluster === servers.A.url ? 'A' : cluster === servers.B.url ? 'B' : assert.fail(`unknown cluster ${cluster}`);
  const other = which === 'A' ? 'B' : 'A';
  assert.ok(servers[which].hits > before[which], `${which} was asked`);
  assert.equal(servers[other].hits, before[other], `${other} was not asked`);
  return which;
}

before(async () => {
  servers.A = await apiserver();
  servers.B = await apiserver();
  mkdirSync(join(repo, 'deploy'), { recursive: true });
  writeFileSync(join(repo, 'deploy', 'web.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\nspec:\n  replicas: 20\n');
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo });
});
after(async () => {
  for (const s of Object.values(servers)) await new Promise((r) => s.server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('kube-latch diff finds its cluster as kubectl does', () => {
  test('diff --repo . with only ~/.kube/config works (a new user, nothing else set)', async () => {
    assert.equal(await diffAsks(envFor(home('only-home', { mine: 'A' }, 'mine'))), 'A');
  });

  test('--context selects a context of ~/.kube/config', async () => {
    const h = home('two-contexts', { a: 'A', b: 'B' }, 'a');
    assert.equal(await diffAsks(envFor(h)), 'A');
    assert.equal(await diffAsks(envFor(h), ['--context', 'b']), 'B');
    assert.equal(await diffAsks(envFor(h, { KUBE_LATCH_CONTEXT: 'b' })), 'B', 'and from KUBE_LATCH_CONTEXT');
  });

  test('$KUBECONFIG wins over ~/.kube/config; its files merge first-wins, missing files skipped', async () => {
    const h = home('kubeconfig-list', { mine: 'A' }, 'mine');
    // first.yaml defines "shared" on B and sets no current-context; second.yaml defines "shared" on A
    // (ignored: first wins) and sets current-context "shared".
    const first = kubeconfig(join(root, 'list', 'first.yaml'), { shared: 'B' });
    const second = kubeconfig(join(root, 'list', 'second.yaml'), { shared: 'A', other: 'A' }, 'shared');
    const missing = join(root, 'list', 'missing.yaml');
    assert.equal(await diffAsks(envFor(h, { KUBECONFIG: `${missing}:${first}::${second}` })), 'B');
    // The current-context of the first file that sets one wins.
    const third = kubeconfig(join(root, 'list', 'third.yaml'), { other2: 'A' }, 'other2');
    assert.equal(await diffAsks(envFor(h, { KUBECONFIG: `${third}:${second}` })), 'A');
    assert.equal(await diffAsks(envFor(h, { KUBECONFIG: `${third}:${second}` }), ['--context', 'shared']), 'A', 'second.yaml is the first to define shared here');
  });

  test('--kubeconfig wins over $KUBECONFIG and ~/.kube/config', async () => {
    const h = home('flag-wins', { mine: 'A' }, 'mine');
    const flag = kubeconfig(join(root, 'flag.yaml'), { f: 'B' }, 'f');
    const env = envFor(h, { KUBECONFIG: kubeconfig(join(root, 'env.yaml'), { e: 'A' }, 'e') });
    assert.equal(await diffAsks(env, ['--kubeconfig', flag]), 'B');
  });

  const errors: Array<[string, () => { args: string[]; env: NodeJS.ProcessEnv }, RegExp]> = [
    ['nothing at all', () => ({ args: [], env: envFor(home('empty')) }), /no kubeconfig: no --kubeconfig, no \$KUBECONFIG, no ~\/\.kube\/config, and not running in a cluster/],
    ['an unknown --context', () => ({ args: ['--context', 'nope'], env: envFor(home('ctx', { a: 'A' }, 'a')) }), /--context nope is not a context of kubeconfig .*\.kube\/config \(it has: a\)/],
    ['no current-context and no --context', () => ({ args: [], env: envFor(home('no-current', { a: 'A' })) }), /has no current cluster \(set current-context, or pass --context\)/],
    ['a $KUBECONFIG of missing files', () => ({ args: [], env: envFor(home('gone'), { KUBECONFIG: join(root, 'x.yaml') }) }), /\$KUBECONFIG names no file that exists/],
  ];
  for (const [what, make, message] of errors) {
    test(`exit 2 with one line for ${what}`, async () => {
      const { args, env } = make();
      const r = await cli(['diff', '--repo', '.', ...args], env);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }
});

describe('the other commands that talk to a cluster load it the same way', () => {
  test('watcher: ~/.kube/config, then --context (parsed configuration)', () => {
    const h = home('watcher', { a: 'A', b: 'B' }, 'a');
    const parse = (args: string[]) => {
      const cfg = parseWatcherConfig(['--repo', 'file:///srv/git/app.git', ...args], envFor(h));
      assert.notEqual(cfg, 'help');
      return (cfg as Exclude<typeof cfg, 'help'>).kubeconfig.getCurrentCluster()?.server;
    };
    assert.equal(parse([]), servers.A.url);
    assert.equal(parse(['--context', 'b']), servers.B.url);
  });

  test('watcher --mode foo names the bad mode before asking for --repo (exit 2)', async () => {
    const r = await cli(['watcher', '--mode', 'foo'], envFor(home('mode')));
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'kube-latch watcher: --mode must be one of push, pr, got "foo"\n');
  });

  test('webhook --certs self-signed: an unknown --context is reported, naming the kubeconfig it read', async () => {
    const r = await cli(['webhook', '--certs', 'self-signed', '--namespace', 'ops', '--context', 'nope', '--port', '0', '--metrics-port', '0'], envFor(home('webhook', { a: 'A' }, 'a')));
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--context nope is not a context of kubeconfig .*webhook\/\.kube\/config/);
  });
});
