// Flux's side of the real loop for the e2e suites (real-flux, real-flux-faults): a namespace whose
// workloads live in one bare repository served over smart HTTP (the flux extra's git http-backend), its
// GitRepository and a Kustomization (server-side apply, force, every 10 s), and readers of what
// kustomize-controller did: its Ready condition, the revision it applied, the applies in its log.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemote, head } from '../../../src/demo/git.ts';
import { FLUX_NAMESPACE } from '../../../src/devcluster/tools/flux.ts';
import { waitFor } from './cluster.ts';
import { manifests, type App, type RealLoop } from './loop.ts';

export const FLUX_MANAGER = 'kustomize-controller';

export interface Ks {
  ready: string;
  reason: string;
  applied: string;
}

export interface Applies {
  /** applies of a revision seen for the first time that changed the Deployment: git changed */
  newRevision: number;
  /** applies that changed the Deployment at a revision already applied: drift corrected */
  drift: number;
}

export interface FluxApps {
  /** A namespace, a remote holding apps/NAME.yaml, its GitRepository and a Kustomization. */
  kustomization(name: string, o: Workload): Promise<App>;
  /** the same, with one Deployment (and HPA) per name in one namespace and one remote; named after the first */
  kustomizationOf(names: readonly string[], o: Workload): Promise<App[]>;
  ks(app: App): Promise<Ks>;
  /** waits until kustomize-controller has applied the remote's tip and says Ready */
  appliedAtHead(app: App, timeoutMs?: number): Promise<void>;
  /** kustomize-controller's "server-side apply completed" lines for the app's Deployment */
  applies(app: App): Applies;
}

export type Workload = { replicas: number; optIn: boolean; min: number; max: number };

export function fluxApps(real: RealLoop): FluxApps {
  const { c } = real;
  const projects = join(c.dir, 'git');
  mkdirSync(projects, { recursive: true });

  async function kustomizationOf(names: readonly string[], o: Workload): Promise<App[]> {
    const ns = await c.namespace(names[0]!, real.suiteLabel);
    const remote = await createRemote(join(projects, `${ns}.git`), Object.fromEntries(names.map((n) => [`apps/${n}.yaml`, manifests(n, o)])));
    await c.apply([
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'GitRepository',
        metadata: { name: ns, namespace: FLUX_NAMESPACE },
        spec: { url: `${c.endpoints['git']}/${ns}.git`, ref: { branch: remote.branch }, interval: '10s', timeout: '20s' },
      },
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: ns, namespace: FLUX_NAMESPACE },
        spec: { interval: '10s', retryInterval: '5s', sourceRef: { kind: 'GitRepository', name: ns }, path: './apps', prune: true, force: true, targetNamespace: ns, timeout: '30s' },
      },
    ]);
    return names.map((name) => ({ name, ns, remote }));
  }

  async function ks(app: App): Promise<Ks> {
    const k = await c.getJson(['-n', FLUX_NAMESPACE, 'kustomization', app.ns]);
    const ready = (k.status?.conditions ?? []).find((x: { type: string }) => x.type === 'Ready') ?? {};
    return { ready: ready.status ?? '', reason: ready.reason ?? '', applied: String(k.status?.lastAppliedRevision ?? '') };
  }

  return {
    kustomizationOf,
    kustomization: async (name, o) => (await kustomizationOf([name], o))[0]!,
    ks,
    async appliedAtHead(app, timeoutMs = 90_000) {
      await waitFor(`${app.ns}: the Kustomization Ready at the tip of git`, async () => {
        const [k, tip] = await Promise.all([ks(app), head(app.remote)]);
        return k.ready === 'True' && k.applied.endsWith(tip);
      }, { timeoutMs, intervalMs: 500 });
    },
    applies(app) {
      const seen = new Set<string>();
      const out: Applies = { newRevision: 0, drift: 0 };
      const key = `Deployment/${app.ns}/${app.name}`;
      for (const line of readFileSync(join(c.dir, 'logs', `${FLUX_MANAGER}.log`), 'utf8').split('\n')) {
        if (!line.includes(key)) continue;
        let rec: { msg?: string; revision?: string; output?: Record<string, string> };
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        if (rec.msg !== 'server-side apply completed' || !rec.output?.[key]) continue;
        const first = !seen.has(rec.revision ?? '');
        seen.add(rec.revision ?? '');
        if (rec.output[key] === 'configured') out[first ? 'newRevision' : 'drift']++;
      }
      return out;
    },
  };
}
