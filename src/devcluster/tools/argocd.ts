// Argo CD on a dev cluster, the `dev-cluster up --with argocd` extra: application-controller and
// repo-server from the multi-call binary of test/controlplane/build-argocd.sh, on the host (no pods),
// talking to the cluster through its admin kubeconfig (ARGOCD_FAKE_IN_CLUSTER makes that the "in-cluster"
// destination https://kubernetes.default.svc), with Debian's redis-server as their cache, all on loopback.
// In the cluster: Argo CD's CRDs, the argocd namespace with the ConfigMaps and Secret of core-install.yaml,
// and the AppProject `default` (the API server, which would create it, is not run).
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { httpOk } from '../api.ts';
import { freePort } from '../processes.ts';
import { runBuildScript } from '../toolchain.ts';
import type { Extra, ExtraContext } from './extras.ts';
import { ensureGitHttp, tcpOpen } from './git-http.ts';

export const ARGOCD_NAMESPACE = 'argocd';

/** The `argocd` extra: builds Argo CD in plan(), installs its objects and starts its components in start(). */
export function argocdExtra(resyncSeconds = 10): Extra {
  let home = '';
  return {
    tools: [],
    async plan() {
      home = (await runBuildScript('build-argocd.sh', [], () => {})).at(-1)!;
      return { kwokArgs: [] };
    },
    async start(ctx) {
      const work = join(ctx.dir, 'argocd');
      for (const d of ['tmp', 'tls', 'ssh', 'gnupg', 'redis']) mkdirSync(join(work, d), { recursive: true, mode: 0o700 });
      await installObjects(ctx, home);
      await ensureGitHttp(ctx);
      const ports = { redis: await freePort(), repoServer: await freePort(), repoServerMetrics: await freePort(), controllerMetrics: await freePort() };
      const bin = join(home, 'argocd');
      const redis = `127.0.0.1:${ports.redis}`;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        KUBECONFIG: ctx.kubeconfig,
        ARGOCD_FAKE_IN_CLUSTER: 'true',
        // the repo server execs `argocd` as git's askpass helper: the binary's folder goes first on PATH
        PATH: `${home}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
        TMPDIR: join(work, 'tmp'),
        ARGOCD_TLS_DATA_PATH: join(work, 'tls'),
        ARGOCD_SSH_DATA_PATH: join(work, 'ssh'),
        ARGOCD_GNUPGHOME: join(work, 'gnupg'),
        ARGOCD_GPG_ENABLED: 'false',
        // one askpass socket per cluster, not the shared /tmp/reposerver-ask-pass.sock
        ARGOCD_ASK_PASS_SOCK: join(work, 'askpass.sock'),
      };
      ctx.launch('redis-server', 'redis-server', ['--bind', '127.0.0.1', '--port', String(ports.redis), '--save', '', '--appendonly', 'no', '--dir', join(work, 'redis')], env);
      await ctx.waitFor('redis-server', () => tcpOpen(ports.redis));
      ctx.launch('argocd-repo-server', bin, [
        // plaintext on loopback; v3.6 defaults --client-ca-path to a file and refuses it with --disable-tls
        '--address', '127.0.0.1', '--port', String(ports.repoServer), '--disable-tls', '--client-ca-path=',
        '--metrics-address', '127.0.0.1', '--metrics-port', String(ports.repoServerMetrics), '--redis', redis,
        // branch → commit answers are cached this long (default 3 min): as long as one resync, so a push is seen
        '--revision-cache-expiration', `${resyncSeconds}s`,
      ], { ...env, ARGOCD_BINARY_NAME: 'argocd-repo-server' });
      ctx.launch('argocd-application-controller', bin, [
        '--namespace', ARGOCD_NAMESPACE, '--repo-server', `127.0.0.1:${ports.repoServer}`, '--repo-server-plaintext',
        '--redis', redis, '--metrics-port', String(ports.controllerMetrics),
        '--app-resync', String(resyncSeconds), '--app-resync-jitter', '0',
      ], { ...env, ARGOCD_BINARY_NAME: 'argocd-application-controller' });
      await ctx.waitFor('argocd-repo-server', () => tcpOpen(ports.repoServer));
      await ctx.waitFor('argocd-application-controller /healthz', () => httpOk(`http://127.0.0.1:${ports.controllerMetrics}/healthz`));
      ctx.endpoints['argocdNamespace'] = ARGOCD_NAMESPACE;
      ctx.progress(`dev-cluster: argocd application-controller and repo-server running (redis ${redis})`);
    },
  };
}

/** CRDs (server-side: the Application CRD is too big for kubectl's last-applied annotation), then config. */
async function installObjects(o: Pick<ExtraContext, 'kubectl' | 'kubeconfig'>, home: string): Promise<void> {
  const kubectl = (args: string[], input?: string): Promise<void> => run(o.kubectl, ['--kubeconfig', o.kubeconfig, ...args], input);
  const crds = readdirSync(join(home, 'crds')).map((f) => ['-f', join(home, 'crds', f)]).flat();
  await kubectl(['apply', '--server-side', '--field-manager=kube-latch-dev-cluster', ...crds]);
  // `kubectl wait` fails outright while a new CRD has no status.conditions yet: retry for a few seconds.
  for (let i = 0; ; i++) {
    try {
      await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/applications.argoproj.io', 'crd/appprojects.argoproj.io']);
      break;
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await kubectl(['apply', '-f', '-'], `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"${ARGOCD_NAMESPACE}"}}`);
  await kubectl(['apply', '-n', ARGOCD_NAMESPACE, '-f', join(home, 'config.yaml')]);
  await kubectl(['apply', '-n', ARGOCD_NAMESPACE, '-f', '-'], JSON.stringify(DEFAULT_PROJECT));
}

/** What the API server creates on its first start: every repo, every destination, every kind. */
const DEFAULT_PROJECT = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'AppProject',
  metadata: { name: 'default' },
  spec: {
    sourceRepos: ['*'],
    destinations: [{ server: '*', namespace: '*' }],
    clusterResourceWhitelist: [{ group: '*', kind: '*' }],
  },
};

function run(cmd: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 120_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd.split('/').pop()} ${args.slice(2, 4).join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
    child.stdin?.end(input ?? '');
  });
}
