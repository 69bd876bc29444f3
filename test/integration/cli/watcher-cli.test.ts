// `kube-latch watcher` flags, environment and exit codes, through the real CLI (no cluster needed: every
// check here happens before the watcher touches the cluster or the remote, except the last two, which
// reach a closed apiserver port and a remote that is down).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_MAIN, httpGet, poll } from '../../../src/demo/children.ts';
import { createRemote } from '../../../src/demo/git.ts';
import { startWatcherChild } from '../../../src/demo/watcher.ts';
import { envName } from '../../../src/cli/flags.ts';
import { parseWatcherConfig, watcherFlags } from '../../../src/cli/watcher.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-latch-watcher-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const token = join(dir, 'token');
writeFileSync(token, 'secret-token-value\n', { mode: 0o600 });
const aDir = join(dir, 'a-dir');
mkdirSync(aDir);

/** A kubeconfig whose apiserver port is closed: loads fine, and every request fails fast. */
async function deadKubeconfig(): Promise<string> {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const file = join(dir, `kubeconfig-${port}`);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: dead, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: dead, context: {cluster: dead, user: u}}]
current-context: dead
`,
  );
  return file;
}

/** The environment without any KUBE_LATCH_* (or in-cluster) settings of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBE_LATCH_') && k !== 'KUBERNETES_SERVICE_HOST' && k !== 'POD_NAMESPACE' && k !== 'KUBECONFIG') env[k] = v;
  // A HOME without ~/.kube/config: the machine's own kubeconfig never leaks into a case.
  return { ...env, HOME: dir, ...extra };
}

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, 'watcher', ...args], { env: cleanEnv(env), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const REPO = ['--repo', 'file:///srv/git/app.git'];

test('--help lists every flag of issue 4 with its KUBE_LATCH_ variable, and exits 0', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  const issueFlags = [
    'kubeconfig', 'repo', 'branch', 'path', 'mode', 'provider', 'api-url', 'settle', 'settle-up', 'settle-down', 'batch-window', 'cluster-name',
    'lease-namespace', 'lease-name', 'author', 'ssh-key', 'known-hosts', 'token-file', 'sign', 'signing-key', 'work-dir', 'ladder', 'tolerance', 'metrics-port',
  ];
  const extra = ['workload-kind', 'log-level', 'rollout-milestones', 'context'];
  assert.deepEqual(watcherFlags.map((f) => f.name).sort(), [...issueFlags, ...extra].sort(), 'exactly the flags of issue 4, plus --workload-kind, --log-level, the experimental --rollout-milestones and --context (issue 12)');
  for (const f of [...issueFlags, ...extra]) {
    assert.match(r.stdout, new RegExp(`--${f} .*\\[${envName(f)}\\]`), `--${f} with ${envName(f)}`);
  }
  assert.match(r.stdout, /--branch .*\(default "main"\)/);
  assert.match(r.stdout, /--metrics-port .*\(default "8081"\)/);
  assert.match(r.stdout, /--mode .*\(default "push"\)/);
  assert.match(r.stdout, /--settle-up .*default 60/);
  assert.match(r.stdout, /--settle-down .*default 86400/);
  assert.match(r.stdout, /--batch-window .*default 10/);
  assert.match(r.stdout, /--lease-name .*\(default "kube-latch-watcher"\)/);
});

// Each row: args (after the subcommand), extra env, and what the one-line error must say.
const usageErrors: Array<[string, string[], Record<string, string>, RegExp]> = [
  ['no --repo', [], {}, /--repo is required/],
  ['an unknown flag', [...REPO, '--bogus'], {}, /Unknown option '--bogus'/],
  ['a positional argument', [...REPO, 'extra'], {}, /Unexpected argument 'extra'/],
  ['plain http', ['--repo', 'http://git.example/app.git'], {}, /plain http is refused/],
  ['an unsupported scheme', ['--repo', 'ftp://git.example/app.git'], {}, /unsupported scheme ftp/],
  ['a bad branch', [...REPO, '--branch', 'a..b'], {}, /--branch "a\.\.b" is not a valid branch name/],
  ['a path leaving the repo', [...REPO, '--path', 'apps', '--path', '../x'], {}, /--path "\.\.\/x" must be relative/],
  ['an absolute path', [...REPO, '--path', '/etc'], {}, /--path "\/etc" must be relative/],
  ['a bad mode', [...REPO, '--mode', 'merge'], {}, /--mode must be one of push, pr, got "merge"/],
  ['a bad provider', [...REPO, '--provider', 'gitea'], {}, /--provider must be one of github, gitlab/],
  ['bad settle seconds', [...REPO, '--settle-up', 'soon'], {}, /--settle-up must be seconds/],
  ['bad --settle', [...REPO, '--settle=-5'], {}, /--settle must be seconds/],
  ['bad batch window', [...REPO, '--batch-window', '1w'], {}, /--batch-window must be seconds/],
  ['a settle-down over 30 days', [...REPO, '--settle-down', '2592001'], {}, /--settle-down must be at most 30 days \(2592000 s\), got "2592001"/],
  ['a bad mode without --repo', ['--mode', 'foo'], {}, /--mode must be one of push, pr, got "foo"/],
  ['an unknown ladder', [...REPO, '--ladder', 'fibonacci'], {}, /invalid default policy \(--ladder\/--tolerance\): .*fibonacci/],
  ['a tolerance below the ladder minimum', [...REPO, '--ladder', 'decade', '--tolerance', '2'], {}, /invalid default policy .*3\.163/],
  ['a tolerance below 1', [...REPO, '--tolerance', '0.5'], {}, /invalid default policy/],
  ['an author without email', [...REPO, '--author', 'kube-latch'], {}, /--author must look like "Name <email>"/],
  ['--sign without --signing-key', [...REPO, '--sign', 'ssh'], {}, /--sign ssh needs --signing-key FILE/],
  ['--signing-key without --sign', [...REPO, '--signing-key', token], {}, /--signing-key needs --sign ssh\|gpg/],
  ['a bad sign format', [...REPO, '--sign', 'x509', '--signing-key', token], {}, /--sign must be one of ssh, gpg/],
  ['a missing ssh key', [...REPO, '--ssh-key', join(dir, 'nope')], {}, /--ssh-key .*nope: cannot read \(ENOENT\)/],
  ['a missing known_hosts', [...REPO, '--known-hosts', join(dir, 'known_hosts')], {}, /--known-hosts .*known_hosts: cannot read \(ENOENT\)/],
  ['a token file that is a directory', [...REPO, '--token-file', aDir], {}, /--token-file .*a-dir is not a file/],
  ['a missing signing key', [...REPO, '--sign', 'gpg', '--signing-key', join(dir, 'nope.asc')], {}, /--signing-key .*nope\.asc: cannot read/],
  ['pr mode without a provider', [...REPO, '--mode', 'pr', '--token-file', token], {}, /--mode pr needs --provider github\|gitlab/],
  ['pr mode without an API URL', ['--repo', 'git@git.example.com:acme/app.git', '--mode', 'pr', '--provider', 'gitlab', '--token-file', token], {}, /--mode pr needs --api-url/],
  ['pr mode without a token', ['--repo', 'https://github.com/acme/app.git', '--mode', 'pr'], {}, /--mode pr needs --token-file FILE/],
  ['pr mode with a plain-http API', ['--repo', 'https://github.com/acme/app.git', '--mode', 'pr', '--api-url', 'http://api.github.com', '--token-file', token], {}, /--api-url must be https:\/\//],
  ['pr mode on a GitHub URL that names no owner/repo', ['--repo', 'https://github.com/acme/group/app.git', '--mode', 'pr', '--token-file', token], {}, /must be "owner\/repo"/],
  ['pr mode with a cluster name that cannot name a branch', ['--repo', 'https://github.com/acme/app.git', '--mode', 'pr', '--token-file', token, '--cluster-name', '...'], {}, /--cluster-name "\.\.\." cannot name a branch/],
  ['a bad lease namespace', [...REPO, '--lease-namespace', 'Kube_System'], {}, /--lease-namespace "Kube_System" is not a namespace name/],
  ['a bad lease name', [...REPO, '--lease-name', 'Leader!'], {}, /--lease-name "Leader!" is not a valid object name/],
  ['a bad workload kind', [...REPO, '--workload-kind', 'Widget'], {}, /--workload-kind: workload kind "Widget" is not group\/version\/Kind/],
  ['a metrics port out of range', [...REPO, '--metrics-port', '70000'], {}, /--metrics-port must be at most 65535/],
  ['a bad log level', [...REPO, '--log-level', 'loud'], {}, /--log-level must be one of/],
  ['a missing kubeconfig', [...REPO, '--kubeconfig', join(dir, 'missing-kubeconfig')], {}, /kubeconfig .*missing-kubeconfig does not exist/],
  ['no kubeconfig outside a cluster', [...REPO], {}, /no kubeconfig: no --kubeconfig, no \$KUBECONFIG, no ~\/\.kube\/config, and not running in a cluster/],
  // The same checks through the environment.
  ['KUBE_LATCH_SETTLE_UP', [...REPO], { KUBE_LATCH_SETTLE_UP: 'abc' }, /--settle-up must be seconds/],
  ['KUBE_LATCH_MODE=pr', [...REPO], { KUBE_LATCH_MODE: 'pr', KUBE_LATCH_TOKEN_FILE: token }, /--mode pr needs --provider/],
  ['KUBE_LATCH_PATH (comma-separated)', [...REPO], { KUBE_LATCH_PATH: 'apps, ../secrets' }, /--path "\.\.\/secrets" must be relative/],
  ['KUBE_LATCH_SIGN', [...REPO], { KUBE_LATCH_SIGN: 'gpg' }, /--sign gpg needs --signing-key FILE/],
  ['KUBE_LATCH_LADDER and KUBE_LATCH_TOLERANCE', [...REPO], { KUBE_LATCH_LADDER: 'sig1', KUBE_LATCH_TOLERANCE: '1.2' }, /invalid default policy .*1\.415/],
];

// Each row is its own process; run a few at once.
describe('usage errors exit 2 with one line', { concurrency: 4 }, () => {
  for (const [what, args, env, message] of usageErrors) {
    test(`exit 2 with one line for ${what}`, async () => {
      const r = await cli(args, env);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.equal(r.stdout, '', 'nothing on stdout: it never started');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, /^kube-latch watcher: /);
      assert.match(lines[0]!, message);
      assert.ok(!r.stderr.includes('secret-token-value'), 'the token never shows');
    });
  }
});

test('a flag wins over its environment variable, which wins over the default', async () => {
  // The flag's valid value hides the environment's invalid one; the environment's invalid value beats the default.
  const viaFlag = await cli([...REPO, '--settle-up', '5', '--kubeconfig', join(dir, 'missing-kubeconfig')], { KUBE_LATCH_SETTLE_UP: 'abc' });
  assert.equal(viaFlag.code, 2);
  assert.match(viaFlag.stderr, /kubeconfig .* does not exist/, 'settle-up came from the flag');
  const viaEnv = await cli([], { KUBE_LATCH_REPO: 'file:///srv/git/app.git', KUBE_LATCH_KUBECONFIG: join(dir, 'missing-kubeconfig') });
  assert.equal(viaEnv.code, 2);
  assert.match(viaEnv.stderr, /missing-kubeconfig does not exist/, 'repo and kubeconfig came from the environment');
});

test('pr mode infers provider and API for github.com and gitlab.com repos (validation passes, then the kubeconfig is checked)', async () => {
  for (const repo of ['https://github.com/acme/app.git', 'git@gitlab.com:acme/platform/app.git']) {
    const r = await cli(['--repo', repo, '--mode', 'pr', '--token-file', token, '--kubeconfig', join(dir, 'missing-kubeconfig')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing-kubeconfig does not exist/, `${repo}: ${r.stderr}`);
  }
});

test('an apiserver that cannot be reached exits 1 with one line, after git was opened; the lease namespace comes from $POD_NAMESPACE', async () => {
  const remote = await createRemote(join(dir, 'reachable.git'), { 'apps/web.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n' });
  const r = await cli(['--repo', remote.url, '--kubeconfig', await deadKubeconfig(), '--metrics-port', '0', '--work-dir', join(dir, 'work-dead')], { POD_NAMESPACE: 'ops' });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^kube-latch watcher: cannot start: cluster https:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  assert.ok(r.stdout.includes('"msg":"git repository indexed"'), 'git was opened first');
  const starting = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)).find((l) => l.msg === 'watcher starting');
  assert.equal(starting.lease, 'ops/kube-latch-watcher');
  assert.ok(existsSync(join(dir, 'work-dead', 'repo', 'apps', 'web.yaml')), 'a --work-dir is kept');
});

test('a remote that is down at start: /healthz ok, /readyz 503 naming git, retried with backoff; SIGTERM exits 0 and removes the temp work dir', async () => {
  const w = await startWatcherChild(['--repo', `file://${join(dir, 'not-yet.git')}`, '--kubeconfig', await deadKubeconfig()], { env: cleanEnv() });
  try {
    assert.equal((await httpGet(w.metricsPort, '/healthz')).status, 200);
    const ready = await httpGet(w.metricsPort, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /^git not reachable yet/);
    await w.waitForLog('a second retry', (l) => l.msg === 'git remote not reachable; retrying' && l['retryInMs'] === 2000, 10_000);
    const m = await httpGet(w.metricsPort, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^kube_latch_watcher_pending_latches 0$/m);
    assert.match(m.body, /^process_cpu_seconds_total /m);
    assert.equal((await httpGet(w.metricsPort, '/nope')).status, 404);
  } finally {
    const exit = await w.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
  }
  const starting = w.logs().find((l) => l.msg === 'watcher starting')!;
  assert.equal(starting['lease'], 'default/kube-latch-watcher', 'lease namespace defaults to default outside a pod');
  const workDir = String(starting['workDir']);
  assert.ok(workDir.startsWith(tmpdir()), workDir);
  await poll('the temp work dir to be removed', () => !existsSync(workDir), 5_000);
});

test('a token given as the URL user name never shows: not in the start-up line, not in git\'s error, not on stderr (issue 12 §4)', async () => {
  const secret = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
  // Port 1 on loopback: git fails at once and names the URL (git 2.x drops the user itself; the scrubber
  // would redact it otherwise, test/unit/redact.test.ts); the watcher retries.
  const w = await startWatcherChild(['--repo', `https://${secret}@127.0.0.1:1/acme/app.git`, '--kubeconfig', await deadKubeconfig()], { env: cleanEnv() });
  try {
    const retry = await w.waitForLog('a retry naming the remote', (l) => l.msg === 'git remote not reachable; retrying', 20_000);
    assert.match(String(retry['err']), /unable to access 'https:\/\/(\[redacted\]@)?127\.0\.0\.1:1\/acme\/app\.git\/'/);
  } finally {
    await w.stop('SIGTERM');
  }
  const starting = w.logs().find((l) => l.msg === 'watcher starting')!;
  assert.equal(starting['repo'], 'https://[redacted]@127.0.0.1:1/acme/app.git');
  const everything = JSON.stringify(w.logs()) + w.stderr();
  assert.ok(!everything.includes(secret), 'the token is nowhere in the output');
});

test('parsed configuration: defaults, --settle and its overrides, units, pr inference, lease namespace', async () => {
  const kubeconfig = await deadKubeconfig();
  const parse = (args: string[], env: Record<string, string> = {}) => {
    const cfg = parseWatcherConfig([...REPO, '--kubeconfig', kubeconfig, ...args], cleanEnv(env));
    assert.notEqual(cfg, 'help');
    return cfg as Exclude<typeof cfg, 'help'>;
  };
  const d = parse([]);
  assert.deepEqual(
    { up: d.settleUpMs, down: d.settleDownMs, batch: d.batchWindowMs, port: d.metricsPort, lease: d.lease, branch: d.branch, mode: d.mode, paths: d.paths, author: d.author, cluster: d.clusterName, workDir: d.workDir },
    { up: 60_000, down: 86_400_000, batch: 10_000, port: 8081, lease: { namespace: 'default', name: 'kube-latch-watcher' }, branch: 'main', mode: 'push', paths: [], author: 'kube-latch <kube-latch@localhost>', cluster: 'default', workDir: undefined },
  );
  const rows: Array<[string[], Record<string, string>, { up: number; down: number; batch: number }]> = [
    [['--settle', '30'], {}, { up: 30_000, down: 30_000, batch: 10_000 }],
    [['--settle', '30', '--settle-up', '5'], {}, { up: 5_000, down: 30_000, batch: 10_000 }],
    [['--settle', '5m', '--settle-down', '2h', '--batch-window', '500ms'], {}, { up: 300_000, down: 7_200_000, batch: 500 }],
    [[], { KUBE_LATCH_SETTLE: '90s', KUBE_LATCH_BATCH_WINDOW: '0' }, { up: 90_000, down: 90_000, batch: 0 }],
    [['--settle-up', '1.5'], { KUBE_LATCH_SETTLE_UP: '7' }, { up: 1_500, down: 86_400_000, batch: 10_000 }],
  ];
  for (const [args, env, want] of rows) {
    const c = parse(args, env);
    assert.deepEqual({ up: c.settleUpMs, down: c.settleDownMs, batch: c.batchWindowMs }, want, `${args.join(' ')} ${JSON.stringify(env)}`);
  }
  assert.deepEqual(parse(['--path', 'apps', '--path', 'clusters/prod']).paths, ['apps', 'clusters/prod']);
  assert.deepEqual(parse([], { KUBE_LATCH_PATH: 'apps,clusters/prod' }).paths, ['apps', 'clusters/prod']);
  assert.deepEqual(parse([], { POD_NAMESPACE: 'ops' }).lease, { namespace: 'ops', name: 'kube-latch-watcher' });
  assert.deepEqual(parse(['--lease-namespace', 'infra', '--lease-name', 'latch.leader'], { POD_NAMESPACE: 'ops' }).lease, { namespace: 'infra', name: 'latch.leader' });

  const gh = parseWatcherConfig(['--repo', 'https://github.com/acme/app.git', '--mode', 'pr', '--token-file', token, '--cluster-name', 'eu-1', '--kubeconfig', kubeconfig], cleanEnv());
  assert.notEqual(gh, 'help');
  if (gh !== 'help') {
    assert.deepEqual(gh.pr, { provider: 'github', apiUrl: 'https://api.github.com', cluster: 'eu-1' });
    assert.equal(gh.auth.tokenUser, undefined);
  }
  const gl = parseWatcherConfig(['--repo', 'git@gitlab.com:acme/platform/app.git', '--mode', 'pr', '--token-file', token, '--kubeconfig', kubeconfig], cleanEnv());
  if (gl !== 'help') {
    assert.deepEqual(gl.pr, { provider: 'gitlab', apiUrl: 'https://gitlab.com/api/v4', cluster: 'default' });
    assert.equal(gl.auth.tokenUser, 'oauth2');
  }
  const own = parseWatcherConfig(['--repo', 'https://git.example.com/acme/app.git', '--mode', 'pr', '--provider', 'gitlab', '--api-url', 'https://git.example.com/api/v4', '--token-file', token, '--kubeconfig', kubeconfig], cleanEnv());
  if (own !== 'help') assert.deepEqual(own.pr, { provider: 'gitlab', apiUrl: 'https://git.example.com/api/v4', cluster: 'default' });
  // A self-hosted GitHub is never sent to api.github.com (the token would go to the wrong host).
  assert.throws(() => parseWatcherConfig(['--repo', 'https://github.example.com/acme/app.git', '--mode', 'pr', '--provider', 'github', '--token-file', token, '--kubeconfig', kubeconfig], cleanEnv()), /--mode pr needs --api-url/);
});
