// Flux's controllers out of cluster (source-controller and kustomize-controller, and helm-controller with
// `--with helm-controller`, each with
// KUBECONFIG: they take no --kubeconfig flag), their CRDs, and a smart-HTTP git server on loopback for
// GitRepository URLs (http://127.0.0.1:P/<repo>.git, bare repositories under DIR/git; git-http.ts).
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { call, httpOk } from '../api.ts';
import { freePort } from '../processes.ts';
import type { Extra } from './extras.ts';
import { ensureGitHttp } from './git-http.ts';

export const FLUX_NAMESPACE = 'flux-system';
type Controller = 'source-controller' | 'kustomize-controller' | 'helm-controller';
const run = promisify(execFile);

/** The flux extra; `helm` adds helm-controller (HelmReleases from charts that source-controller serves). */
export function fluxExtra(o: { helm?: boolean } = {}): Extra {
  const CONTROLLERS: readonly Controller[] = ['source-controller', 'kustomize-controller', ...(o.helm ? (['helm-controller'] as const) : [])];
  let dirs: Record<string, string> = {};
  let storagePort = 0;
  const health: Record<string, number> = {};
  const metrics: Record<string, number> = {};
  return {
    tools: CONTROLLERS,
    async plan(toolDirs) {
      dirs = toolDirs;
      storagePort = await freePort();
      for (const c of CONTROLLERS) {
        health[c] = await freePort();
        metrics[c] = await freePort();
      }
      return { kwokArgs: [] };
    },
    async start(ctx) {
      await ensureGitHttp(ctx);

      const ns = await call(ctx.creds, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FLUX_NAMESPACE } });
      if (ns.status !== 201 && ns.status !== 409) throw new Error(`creating namespace ${FLUX_NAMESPACE}: HTTP ${ns.status}`);
      const crdFiles = CONTROLLERS.flatMap((c) => {
        const d = join(dirs[c]!, 'crds');
        return readdirSync(d).filter((f) => f.endsWith('.yaml')).map((f) => join(d, f));
      });
      const kc = ['--kubeconfig', ctx.kubeconfig];
      // Server-side: the CRDs are too large for client-side apply's last-applied annotation.
      await run(ctx.kubectl, [...kc, 'apply', '--server-side', '--field-manager=dev-cluster', ...crdFiles.flatMap((f) => ['-f', f])]);
      await run(ctx.kubectl, [...kc, 'wait', '--for=condition=Established', '--timeout=60s', 'crd', '-l', 'app.kubernetes.io/part-of=flux'])
        .catch(() => run(ctx.kubectl, [...kc, 'wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']));

      const env = { ...process.env, KUBECONFIG: ctx.kubeconfig, RUNTIME_NAMESPACE: FLUX_NAMESPACE };
      const common = (c: string): string[] => [
        `--metrics-addr=127.0.0.1:${metrics[c]}`,
        `--health-addr=127.0.0.1:${health[c]}`,
        '--enable-leader-election=false',
        '--log-encoding=json',
      ];
      const storage = join(ctx.dir, 'flux-artifacts');
      mkdirSync(storage, { recursive: true });
      const args: Record<Controller, string[]> = {
        'source-controller': [`--storage-path=${storage}`, `--storage-addr=127.0.0.1:${storagePort}`, `--storage-adv-addr=127.0.0.1:${storagePort}`],
        'kustomize-controller': ['--no-remote-bases=true'],
        'helm-controller': [],
      };
      for (const c of CONTROLLERS) ctx.launch(c, join(dirs[c]!, c), [...common(c), ...args[c]], env);
      for (const c of CONTROLLERS) await ctx.waitFor(`${c} /readyz`, () => httpOk(`http://127.0.0.1:${health[c]}/readyz`));
      ctx.endpoints['fluxStorage'] = `http://127.0.0.1:${storagePort}`;
      ctx.progress(`dev-cluster: flux controllers ready; git at ${ctx.endpoints['git']}`);
    },
  };
}
