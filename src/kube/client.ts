// client-node 2.x setup and the small helpers every Kubernetes-facing module shares.
import { existsSync } from 'node:fs';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

export { KubeConfig };

/** Cluster access is missing or unreadable: the CLI prints the message on one line. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * A KubeConfig from `--kubeconfig FILE`, else the in-cluster service account. No silent fallback to
 * ~/.kube/config: a sidecar that quietly talks to the wrong cluster is worse than one that exits.
 */
export function loadKubeConfig(file?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (file) {
    if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} does not exist`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${file}: ${firstLine(err)}`);
    }
    if (!kc.getCurrentCluster()) throw new KubeConfigError(`kubeconfig ${file} has no current cluster`);
    return kc;
  }
  if (!env['KUBERNETES_SERVICE_HOST'] || !existsSync(SERVICE_ACCOUNT_TOKEN)) {
    throw new KubeConfigError('no --kubeconfig given and not running in a cluster (no service account token)');
  }
  kc.loadFromCluster();
  return kc;
}

/** The HTTP status of a client-node error (ApiException.code, or statusCode from a watch), if any. */
export function statusOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A one-line description of an error, without response bodies. */
export function firstLine(err: unknown): string {
  const status = statusOf(err);
  const msg = err instanceof Error ? err.message : String(err);
  const line = msg.split('\n')[0]!.slice(0, 200);
  return status !== undefined && !line.includes(String(status)) ? `HTTP ${status}: ${line}` : line;
}

/** A resource the watcher lists and watches: `/apis/{group}/{version}/{plural}`. */
export interface ResourceKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly plural: string;
}

export function apiVersionOf(k: Pick<ResourceKind, 'group' | 'version'>): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export const DEPLOYMENT: ResourceKind = { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments' };
export const STATEFULSET: ResourceKind = { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets' };
export const ROLLOUT: ResourceKind = { group: 'argoproj.io', version: 'v1alpha1', kind: 'Rollout', plural: 'rollouts' };
export const HPA: ResourceKind = { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers' };

/** An API resource as discovery reports it, reduced to what we check. */
export interface DiscoveredResource {
  readonly name: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** Discovery for one group/version; undefined when the apiserver does not serve it (no CRD). */
export type Discover = (group: string, version: string) => Promise<readonly DiscoveredResource[] | undefined>;

export function kubeDiscovery(kc: KubeConfig): Discover {
  const api = kc.makeApiClient(CustomObjectsApi);
  return async (group, version) => {
    try {
      const list = await api.getAPIResources({ group, version });
      return (list.resources ?? []).map((r) => ({ name: r.name, kind: r.kind, namespaced: r.namespaced }));
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  };
}

/** `group/version/Kind`, e.g. `apps.example.com/v1/Widget`, as given to `--workload-kind`. */
export function parseKindSpec(spec: string): { group: string; version: string; kind: string } {
  // group (a DNS name, ≤ 253) + version + kind: anything longer is refused before the regex reads it.
  if (spec.length > 400) throw new KubeConfigError(`workload kind is ${spec.length} characters long; expected group/version/Kind of at most 400`);
  const m = /^([a-z0-9.-]+)\/(v[0-9]+(?:(?:alpha|beta)[0-9]+)?)\/([A-Z][A-Za-z0-9]*)$/.exec(spec.trim());
  if (!m) throw new KubeConfigError(`workload kind "${spec.slice(0, 60)}" is not group/version/Kind (e.g. apps.example.com/v1/Widget)`);
  return { group: m[1]!, version: m[2]!, kind: m[3]! };
}

export interface WorkloadKinds {
  readonly kinds: readonly ResourceKind[];
  /**
   * kinds left out, with why. `configured` marks a kind the operator asked for (an error worth
   * exiting on); Rollouts without their CRD are normal and only reported.
   */
  readonly skipped: ReadonlyArray<{ readonly kind: string; readonly reason: string; readonly configured: boolean }>;
}

/**
 * The workload kinds to watch: Deployments and StatefulSets always; Rollouts when argoproj.io serves
 * them; each extra `group/version/Kind` when discovery finds it namespaced with a scale subresource.
 */
export async function resolveWorkloadKinds(discover: Discover, extra: readonly string[] = []): Promise<WorkloadKinds> {
  const kinds: ResourceKind[] = [DEPLOYMENT, STATEFULSET];
  const skipped: Array<{ kind: string; reason: string; configured: boolean }> = [];
  const wanted = [{ spec: `${ROLLOUT.group}/${ROLLOUT.version}/${ROLLOUT.kind}`, optional: true }, ...extra.map((spec) => ({ spec, optional: false }))];
  for (const { spec, optional } of wanted) {
    const { group, version, kind } = parseKindSpec(spec);
    if (kinds.some((k) => k.group === group && k.kind === kind)) continue;
    const skip = (reason: string) => skipped.push({ kind: spec, reason, configured: !optional });
    const resources = await discover(group, version);
    if (!resources) {
      skip(`${group}/${version} is not served (CRD not installed?)`);
      continue;
    }
    const main = resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!main) {
      skip(`${group}/${version} has no kind ${kind}`);
      continue;
    }
    if (!main.namespaced) {
      skip(`${kind} is cluster-scoped; workloads must be namespaced`);
      continue;
    }
    if (!resources.some((r) => r.name === `${main.name}/scale`)) {
      skip(`${kind} has no scale subresource`);
      continue;
    }
    kinds.push({ group, version, kind, plural: main.name });
  }
  return { kinds, skipped };
}
