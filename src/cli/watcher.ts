// `kube-latch watcher`: the write-back loop (DESIGN §4, §6). Validates every flag before touching the
// cluster or git (a bad one exits 2 with one line), serves /healthz, /readyz and /metrics, opens the git
// work dir (retrying while the remote is unreachable), then runs startWatcher() until SIGTERM or SIGINT:
// stop the informers, finish a write in progress, release the Lease, exit 0.
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseRemote, redactUrl } from '../git/auth.ts';
import { GitError } from '../git/exec.ts';
import { clusterBranch, createPullRequests } from '../git/pr/index.ts';
import { checkApiUrl } from '../git/pr/http.ts';
import { parseAuthor, DEFAULT_AUTHOR } from '../git/repo.ts';
import { normalizeRepoPath } from '../git/repo-index.ts';
import { firstLine, KubeConfigError, loadKubeConfig, parseKindSpec, type KubeConfig } from '../kube/client.ts';
import { DEFAULT_SETTLE_DOWN, DEFAULT_SETTLE_UP, describePolicy, policyFromFlags, PolicyError, type PolicyDefaults } from '../latch/index.ts';
import { createLogger } from '../log.ts';
import { bool, choice, helpText, int, list, parseFlags, requireStr, seconds, str, UsageError, type FlagSpec } from './flags.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MODES = ['push', 'pr'] as const;
const PROVIDERS = ['github', 'gitlab'] as const;
const SIGN_FORMATS = ['ssh', 'gpg'] as const;
export const DEFAULT_METRICS_PORT = 8081;
export const DEFAULT_LEASE_NAME = 'kube-latch-watcher';
const DEFAULT_BATCH_WINDOW = 10;
const MAX_AUTHOR_LENGTH = 128;
const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** public forges whose API base can be inferred from the repo host */
const PUBLIC_FORGES: Record<string, { provider: (typeof PROVIDERS)[number]; apiUrl: string }> = {
  'github.com': { provider: 'github', apiUrl: 'https://api.github.com' },
  'gitlab.com': { provider: 'gitlab', apiUrl: 'https://gitlab.com/api/v4' },
};

export const watcherFlags: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', arg: 'FILE', help: 'kubeconfig file (default, as kubectl: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)' },
  { name: 'context', type: 'string', arg: 'NAME', help: 'kubeconfig context to use (default: its current-context)' },
  { name: 'repo', type: 'string', arg: 'URL', help: 'git remote: file://, ssh://, user@host:path or https:// (required)' },
  { name: 'branch', type: 'string', arg: 'BRANCH', help: 'tracked branch', default: 'main' },
  { name: 'path', type: 'string', multiple: true, arg: 'DIR', help: 'repo-relative directory or file searched for manifests (default: the whole repo)' },
  { name: 'mode', type: 'string', arg: 'MODE', help: 'push: commit to the branch; pr: force-update kube-latch/<cluster> and keep one PR open', default: 'push' },
  { name: 'provider', type: 'string', arg: 'NAME', help: 'pr mode: github or gitlab (inferred for github.com and gitlab.com repos)' },
  { name: 'api-url', type: 'string', arg: 'URL', help: 'pr mode: the provider REST API base, https:// (inferred for github.com and gitlab.com)' },
  { name: 'settle', type: 'string', arg: 'SECONDS', help: 'sets both --settle-up and --settle-down' },
  { name: 'settle-up', type: 'string', arg: 'SECONDS', help: `time live must stay above the band before an upward latch (default ${DEFAULT_SETTLE_UP})` },
  { name: 'settle-down', type: 'string', arg: 'SECONDS', help: `time live must stay below the band before a downward latch, and the peak window (default ${DEFAULT_SETTLE_DOWN})` },
  { name: 'batch-window', type: 'string', arg: 'SECONDS', help: `latches falling due within this window share one commit (default ${DEFAULT_BATCH_WINDOW})` },
  { name: 'cluster-name', type: 'string', arg: 'NAME', help: 'names this cluster: the pr-mode branch kube-latch/<cluster-name>', default: 'default' },
  { name: 'lease-namespace', type: 'string', arg: 'NS', help: "namespace of the leader-election Lease (default: $POD_NAMESPACE, else the pod's namespace, else default)" },
  { name: 'lease-name', type: 'string', arg: 'NAME', help: 'name of the leader-election Lease', default: DEFAULT_LEASE_NAME },
  { name: 'author', type: 'string', arg: '"NAME <EMAIL>"', help: 'commit author and committer', default: DEFAULT_AUTHOR },
  { name: 'ssh-key', type: 'string', arg: 'FILE', help: 'private key for an ssh:// or user@host:path repo' },
  { name: 'known-hosts', type: 'string', arg: 'FILE', help: 'known_hosts for the ssh repo (host keys are always checked strictly)' },
  { name: 'token-file', type: 'string', arg: 'FILE', help: 'file holding the HTTPS / PR API token (never logged)' },
  { name: 'sign', type: 'string', arg: 'FORMAT', help: 'sign commits: ssh or gpg (needs --signing-key)' },
  { name: 'signing-key', type: 'string', arg: 'FILE', help: 'ssh private key, or armored gpg secret key without passphrase' },
  { name: 'work-dir', type: 'string', arg: 'DIR', help: 'where the clone lives (default: a temp dir removed on exit)' },
  { name: 'ladder', type: 'string', arg: 'LADDER', help: 'default ladder: 1-2-5, sig1, decade, step:N, exact', default: '1-2-5' },
  { name: 'tolerance', type: 'string', arg: 'R', help: 'default band ratio r ≥ 1', default: '2' },
  { name: 'metrics-port', type: 'string', arg: 'PORT', help: 'plain-HTTP port for /healthz, /readyz, /metrics (0: any free port)', default: String(DEFAULT_METRICS_PORT) },
  { name: 'workload-kind', type: 'string', multiple: true, arg: 'G/V/KIND', help: 'extra workload kind with spec.replicas and a scale subresource, e.g. apps.example.com/v1/Widget' },
  { name: 'rollout-milestones', type: 'boolean', help: 'experimental: write Deployment rollout milestones to git as kube-latch.io/rollout; in pr mode propose reverting a failed rollout (needs list/watch on replicasets)' },
  { name: 'log-level', type: 'string', arg: 'LEVEL', help: `log level: ${LOG_LEVELS.join(', ')}`, default: 'info' },
];

const SUMMARY = `Watches workloads labelled kube-latch.io/enabled=true and, when live replicas stay outside the band of
the value git declares for longer than the settle time, writes the new latch point back to git: one
commit (--mode push) or one pull request update (--mode pr) per batch. Only the holder of the Lease
writes. Exit status: 0 after SIGTERM/SIGINT, 2 for a usage or configuration error, 1 otherwise.`;

export interface WatcherCliConfig {
  readonly kubeconfig: KubeConfig;
  readonly repo: string;
  readonly branch: string;
  readonly paths: readonly string[];
  readonly mode: 'push' | 'pr';
  readonly pr?: { readonly provider: 'github' | 'gitlab'; readonly apiUrl: string; readonly cluster: string };
  readonly settleUpMs: number;
  readonly settleDownMs: number;
  readonly batchWindowMs: number;
  readonly clusterName: string;
  readonly lease: { readonly namespace: string; readonly name: string };
  readonly author: string;
  readonly auth: { readonly sshKey?: string; readonly knownHosts?: string; readonly tokenFile?: string; readonly tokenUser?: string };
  readonly sign?: { readonly format: 'ssh' | 'gpg'; readonly keyFile: string };
  /** undefined: a temp dir made at start and removed on exit */
  readonly workDir?: string;
  readonly defaults: PolicyDefaults;
  readonly metricsPort: number;
  readonly extraKinds: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** experimental: latch rollout milestones too (docs/rollout.md) */
  readonly rolloutMilestones: boolean;
}

/** Every check that needs neither the cluster nor the remote. Throws UsageError with one line. */
export function parseWatcherConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): WatcherCliConfig | 'help' {
  const f = parseFlags(watcherFlags, argv, env);
  if (f['help']) return 'help';

  // Choices first: a wrong --mode is named even when --repo is missing too.
  const mode = choice(f, 'mode', MODES)!;
  const logLevel = choice(f, 'log-level', LOG_LEVELS)!;
  const repo = requireStr(f, 'repo');
  let remote;
  try {
    remote = parseRemote(repo);
  } catch (e) {
    throw new UsageError(e instanceof GitError ? e.message : `--repo: ${(e as Error).message}`);
  }
  const branch = str(f, 'branch')!;
  if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.startsWith('-') || branch.includes('..') || branch.endsWith('/') || branch.endsWith('.lock')) {
    throw new UsageError(`--branch "${branch}" is not a valid branch name`);
  }
  const paths = list(f, 'path').map((p) => {
    const n = p === '.' || p === './' ? '' : normalizeRepoPath(p);
    if (n === undefined) throw new UsageError(`--path "${p}" must be relative to the repository root and stay inside it`);
    return p;
  });

  const settle = seconds(f, 'settle');
  const settleUp = seconds(f, 'settle-up') ?? settle ?? DEFAULT_SETTLE_UP;
  const settleDown = seconds(f, 'settle-down') ?? settle ?? DEFAULT_SETTLE_DOWN;
  const batchWindow = seconds(f, 'batch-window') ?? DEFAULT_BATCH_WINDOW;

  const defaults: PolicyDefaults = { ladder: str(f, 'ladder'), tolerance: str(f, 'tolerance') };
  try {
    policyFromFlags(defaults);
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(`invalid default policy (--ladder/--tolerance): ${e.message}`);
    throw e;
  }

  const author = str(f, 'author')!;
  // parseAuthor's regex is only safe on short input; a name and address never come near this.
  if (author.length > MAX_AUTHOR_LENGTH) throw new UsageError(`--author is ${author.length} characters long; expected "NAME <EMAIL>" of at most ${MAX_AUTHOR_LENGTH}`);
  try {
    parseAuthor(author);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const sshKey = readableFile(f, 'ssh-key');
  const knownHosts = readableFile(f, 'known-hosts');
  const tokenFile = readableFile(f, 'token-file');
  const signingKey = readableFile(f, 'signing-key');
  const signFormat = choice(f, 'sign', SIGN_FORMATS);
  if (signFormat && !signingKey) throw new UsageError(`--sign ${signFormat} needs --signing-key FILE`);
  if (signingKey && !signFormat) throw new UsageError('--signing-key needs --sign ssh|gpg');

  const clusterName = str(f, 'cluster-name')!;
  if (clusterName.trim() === '') throw new UsageError('--cluster-name must not be empty');
  let provider = choice(f, 'provider', PROVIDERS);
  let pr: WatcherCliConfig['pr'];
  if (mode === 'pr') {
    const forge = PUBLIC_FORGES[remote.host.toLowerCase()];
    provider ??= forge?.provider;
    if (!provider) throw new UsageError(`--mode pr needs --provider github|gitlab (cannot infer it from ${remote.host || 'a file:// repo'})`);
    const apiUrl = str(f, 'api-url') ?? (forge?.provider === provider ? forge.apiUrl : undefined);
    if (!apiUrl) throw new UsageError(`--mode pr needs --api-url, the ${provider} REST API base (https://…) for ${remote.host || 'this repo'}`);
    try {
      checkApiUrl(apiUrl);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!tokenFile) throw new UsageError(`--mode pr needs --token-file FILE (the ${provider} API token)`);
    try {
      // No I/O: checks that --repo names a project this provider can address, and the branch name.
      createPullRequests({ provider, apiUrl, tokenFile, repoUrl: repo });
      clusterBranch(clusterName);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    pr = { provider, apiUrl, cluster: clusterName };
  }

  const leaseNamespace = str(f, 'lease-namespace') ?? podNamespace(env);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(leaseNamespace) || leaseNamespace.length > 63) {
    throw new UsageError(`--lease-namespace "${leaseNamespace}" is not a namespace name`);
  }
  const leaseName = str(f, 'lease-name')!;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(leaseName) || leaseName.length > 253) {
    throw new UsageError(`--lease-name "${leaseName}" is not a valid object name (lowercase letters, digits, '-' and '.')`);
  }

  const extraKinds = list(f, 'workload-kind');
  for (const k of extraKinds) {
    try {
      parseKindSpec(k);
    } catch (e) {
      throw new UsageError(`--workload-kind: ${(e as Error).message}`);
    }
  }

  const workDir = str(f, 'work-dir');
  if (workDir !== undefined && workDir.trim() === '') throw new UsageError('--work-dir must not be empty');
  const metricsPort = int(f, 'metrics-port', { max: 65535 })!;

  let kubeconfig: KubeConfig;
  try {
    kubeconfig = loadKubeConfig({ file: str(f, 'kubeconfig'), context: str(f, 'context') }, env);
  } catch (e) {
    if (e instanceof KubeConfigError) throw new UsageError(e.message);
    throw e;
  }

  return {
    rolloutMilestones: bool(f, 'rollout-milestones'),
    kubeconfig,
    repo,
    branch,
    paths,
    mode,
    ...(pr ? { pr } : {}),
    settleUpMs: Math.round(settleUp * 1000),
    settleDownMs: Math.round(settleDown * 1000),
    batchWindowMs: Math.round(batchWindow * 1000),
    clusterName,
    lease: { namespace: leaseNamespace, name: leaseName },
    author,
    auth: {
      ...(sshKey ? { sshKey } : {}),
      ...(knownHosts ? { knownHosts } : {}),
      ...(tokenFile ? { tokenFile } : {}),
      ...(provider === 'gitlab' ? { tokenUser: 'oauth2' } : {}),
    },
    ...(signFormat && signingKey ? { sign: { format: signFormat, keyFile: signingKey } } : {}),
    ...(workDir !== undefined ? { workDir: resolve(workDir) } : {}),
    defaults,
    metricsPort,
    extraKinds,
    logLevel,
  };
}

/** $POD_NAMESPACE, else the service account's namespace file, else `default`. */
function podNamespace(env: NodeJS.ProcessEnv): string {
  const fromEnv = env['POD_NAMESPACE']?.trim();
  if (fromEnv) return fromEnv;
  try {
    const ns = readFileSync(IN_CLUSTER_NAMESPACE_FILE, 'utf8').trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  return 'default';
}

/** A flag naming a file this process must be able to read; checked now so a typo exits 2, not later. */
function readableFile(f: Parameters<typeof str>[0], name: string): string | undefined {
  const p = str(f, name);
  if (p === undefined) return undefined;
  if (p === '') throw new UsageError(`--${name} must not be empty`);
  try {
    if (!statSync(p).isFile()) throw new UsageError(`--${name} ${p} is not a file`);
    accessSync(p, constants.R_OK);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--${name} ${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return resolve(p);
}

// ---- running ----

interface Health {
  /** why the watcher is not ready yet, or undefined when it is */
  notReady(): string | undefined;
  metrics(): Promise<{ body: string; contentType: string }>;
}

export async function run(argv: string[]): Promise<number> {
  const cfg = parseWatcherConfig(argv);
  if (cfg === 'help') {
    process.stdout.write(helpText('kube-latch watcher --repo URL [flags]', SUMMARY, watcherFlags));
    return 0;
  }
  const log = createLogger('watcher', cfg.logLevel);
  const stop = stopSignal();

  // Loaded only now, so that --help and flag errors stay fast.
  const [{ startWatcher, WatcherConfigError, WatcherMetrics }, { openGitState }] = await Promise.all([import('../watcher/index.ts'), import('../git/git-state.ts')]);
  const metrics = new WatcherMetrics({ defaultMetrics: true });
  let state: 'git' | 'informers' | 'ready' | 'stopping' = 'git';
  let gitProblem: string | undefined;
  let running: Awaited<ReturnType<typeof startWatcher>> | undefined;
  let latcher: { stop(): Promise<void> } | undefined;
  const synced = new Set<unknown>();
  const health: Health = {
    notReady() {
      if (state === 'stopping') return 'shutting down';
      if (state === 'git') return `git not reachable yet${gitProblem ? `: ${gitProblem}` : ''}`;
      if (state === 'informers') {
        if (!running) return 'starting informers';
        for (const i of running.informers.informers) if (hasListed(i)) synced.add(i);
        const waiting = running.informers.informers.filter((i) => !synced.has(i));
        if (waiting.length > 0) return `informers not synced yet: ${waiting.map((i) => i.kind).join(', ')}`;
        state = 'ready';
        log.info({ kinds: running.kinds.map((k) => k.kind) }, 'informers synced; ready');
      }
      return undefined;
    },
    metrics: async () => ({ body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
  };

  let server: Server;
  try {
    server = await serveHealth(cfg.metricsPort, health);
  } catch (e) {
    process.stderr.write(`kube-latch watcher: cannot listen on --metrics-port ${cfg.metricsPort}: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  }
  const metricsPort = (server.address() as AddressInfo).port;
  const readyPoll = setInterval(() => health.notReady(), 200);
  const ownWorkDir = cfg.workDir === undefined;
  const workDir = cfg.workDir ?? mkdtempSync(join(tmpdir(), 'kube-latch-watcher-'));
  log.info(
    {
      metricsPort,
      repo: redactUrl(cfg.repo),
      branch: cfg.branch,
      paths: cfg.paths.length > 0 ? cfg.paths : ['.'],
      mode: cfg.mode,
      ...(cfg.pr ? { provider: cfg.pr.provider, apiUrl: cfg.pr.apiUrl, prBranch: `kube-latch/${cfg.clusterName}` } : {}),
      settleUpSeconds: cfg.settleUpMs / 1000,
      settleDownSeconds: cfg.settleDownMs / 1000,
      batchWindowSeconds: cfg.batchWindowMs / 1000,
      policy: describePolicy(policyFromFlags(cfg.defaults)),
      lease: `${cfg.lease.namespace}/${cfg.lease.name}`,
      workDir,
    },
    'watcher starting',
  );
  // File paths only: key and token contents never reach a log line.
  log.debug(
    { author: cfg.author, clusterName: cfg.clusterName, extraKinds: cfg.extraKinds, sshKey: cfg.auth.sshKey, knownHosts: cfg.auth.knownHosts, tokenFile: cfg.auth.tokenFile, sign: cfg.sign?.format, signingKey: cfg.sign?.keyFile },
    'configuration',
  );

  const finish = async (code: number): Promise<number> => {
    state = 'stopping';
    clearInterval(readyPoll);
    await latcher?.stop();
    if (running) await running.stop();
    await new Promise<void>((r) => server.close(() => r()));
    if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    // Nothing of ours is left running; should a library keep a socket open, do not hang the pod.
    setTimeout(() => process.exit(code), 5_000).unref();
    return code;
  };

  // Open git: clone or reuse the work dir and build the index. A remote that is down is retried.
  let git;
  const pullRequests = cfg.pr ? createPullRequests({ provider: cfg.pr.provider, apiUrl: cfg.pr.apiUrl, tokenFile: cfg.auth.tokenFile!, repoUrl: cfg.repo }) : undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      git = await openGitState({
        ...(cfg.pr && pullRequests ? { mode: 'pr' as const, cluster: cfg.pr.cluster, pullRequests } : { mode: 'push' as const }),
        url: cfg.repo,
        branch: cfg.branch,
        workDir,
        paths: cfg.paths,
        author: cfg.author,
        ...(cfg.sign ? { sign: cfg.sign } : {}),
        auth: cfg.auth,
        logger: createLogger('git', cfg.logLevel),
      });
      break;
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      if (!(e instanceof GitError) || !e.retryable) {
        const kind = e instanceof GitError ? e.kind : 'error';
        process.stderr.write(`kube-latch watcher: ${msg}\n`);
        log.error({ err: msg, kind }, 'cannot open the git repository');
        return finish(kind === 'config' ? 2 : 1);
      }
      gitProblem = msg;
      const delay = Math.min(1000 * 2 ** attempt, 30_000);
      log.warn({ err: msg, retryInMs: delay }, 'git remote not reachable; retrying');
      if (await stop.within(delay)) return finish(0);
    }
  }
  const index = git.repo.index;
  log.info({ ...index.stats, brokenFiles: index.brokenFiles.length, markerProblems: index.markerProblems.length }, 'git repository indexed');
  for (const b of index.brokenFiles.slice(0, 20)) log.warn({ file: b.file, err: b.error }, 'file does not parse; it is never edited');
  if (stop.signalled()) return finish(0);

  state = 'informers';
  try {
    running = await startWatcher({
      kubeconfig: cfg.kubeconfig,
      git,
      settleUpMs: cfg.settleUpMs,
      settleDownMs: cfg.settleDownMs,
      batchWindowMs: cfg.batchWindowMs,
      defaults: cfg.defaults,
      lease: cfg.lease,
      extraKinds: cfg.extraKinds,
      metrics,
      logger: log,
    });
    if (cfg.rolloutMilestones) {
      const r = await import('../rollout/index.ts');
      latcher = await r.startLatcher({
        kubeconfig: cfg.kubeconfig,
        git: r.rolloutGit(git.repo, cfg.pr && pullRequests ? { mode: 'pr', pullRequests, cluster: cfg.pr.cluster } : { mode: 'push' }),
        leadership: running.leader,
        batchWindowMs: cfg.batchWindowMs,
        registry: metrics.registry,
        logger: createLogger('rollout', cfg.logLevel),
      });
    }
  } catch (e) {
    const config = e instanceof WatcherConfigError || e instanceof KubeConfigError;
    const msg = config ? (e as Error).message.split('\n')[0]! : `cannot start: cluster ${cfg.kubeconfig.getCurrentCluster()?.server ?? ''}: ${describeError(e)}`;
    process.stderr.write(`kube-latch watcher: ${msg}\n`);
    log.error({ err: msg }, 'cannot start the watcher');
    return finish(config ? 2 : 1);
  }

  const signal = await stop.promise;
  log.info({ signal }, 'shutting down: finishing a write in progress and releasing the lease');
  return finish(0);
}

/** One line: the error's message, and its cause's (fetch hides ECONNREFUSED and TLS errors there). */
function describeError(e: unknown): string {
  const head = firstLine(e);
  const cause = (e as { cause?: unknown })?.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    const detail = cause.message.split('\n')[0]!;
    return `${head} (${code && !detail.includes(code) ? `${code}: ` : ''}${detail})`;
  }
  return head;
}

/**
 * Whether a supervised informer has delivered a list since it was started. Reads the supervisor's
 * sign-of-life clock: a list always moves lastSignal past lastStart.
 */
function hasListed(inf: object): boolean {
  const s = inf as { synced?: () => boolean; lastSignal?: unknown; lastStart?: unknown };
  if (typeof s.synced === 'function') return s.synced();
  return typeof s.lastSignal === 'number' && typeof s.lastStart === 'number' && s.lastSignal > s.lastStart;
}

function serveHealth(port: number, h: Health): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const text = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n');
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        return text(200, 'ok\n');
      case '/readyz': {
        const why = h.notReady();
        return why === undefined ? text(200, 'ok\n') : text(503, `${why}\n`);
      }
      case '/metrics':
        h.metrics().then(
          (m) => text(200, m.body, m.contentType),
          (err: Error) => text(500, `cannot collect metrics: ${err.message.split('\n')[0]}\n`),
        );
        return;
      default:
        return text(404, 'not found\n');
    }
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolveListen(server);
    });
  });
}

/** The first SIGTERM or SIGINT; a second one exits at once with 1. */
function stopSignal(): { promise: Promise<NodeJS.Signals>; signalled(): boolean; within(ms: number): Promise<boolean> } {
  let got: NodeJS.Signals | undefined;
  let resolveSignal!: (s: NodeJS.Signals) => void;
  const promise = new Promise<NodeJS.Signals>((r) => (resolveSignal = r));
  const on = (signal: NodeJS.Signals) => {
    if (got) {
      process.stderr.write(`kube-latch watcher: second ${signal}, exiting without releasing the lease\n`);
      process.exit(1);
    }
    got = signal;
    resolveSignal(signal);
  };
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  return {
    promise,
    signalled: () => got !== undefined,
    /** waits ms, or less if a signal arrives; true when signalled */
    within: (ms) =>
      new Promise((r) => {
        const t = setTimeout(() => r(false), ms);
        void promise.then(() => {
          clearTimeout(t);
          r(true);
        });
      }),
  };
}
