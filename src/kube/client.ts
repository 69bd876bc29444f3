// client-node 2.x setup and the small helpers every Kubernetes-facing module shares.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { CustomObjectsApi, KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';

export { KubeConfig };

/** Cluster access is missing or unreadable: the CLI prints the message on one line. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Where to look for cluster access, as kubectl does; `context` picks a context of the kubeconfig. */
export interface KubeConfigSource {
  /** `--kubeconfig FILE`: this file only */
  readonly file?: string | undefined;
  /** `--context NAME` */
  readonly context?: string | undefined;
}

/**
 * A KubeConfig found as kubectl finds one: `--kubeconfig FILE`, else `$KUBECONFIG` (a colon-separated
 * list, merged as kubectl merges it: the first file to set a cluster, user, context or current-context
 * wins, and files that do not exist are skipped), else `~/.kube/config`, else the in-cluster service
 * account. `--context` then selects a context. Unlike client-node's loadFromDefault, it never falls
 * back to http://localhost:8080, never throws on a name two files share, and says which source it read.
 */
export function loadKubeConfig(source: string | KubeConfigSource = {}, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const { file, context } = typeof source === 'string' ? { file: source } : source;
  const kc = new KubeConfig();
  let from: string;
  if (file) {
    if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} does not exist`);
    readInto(kc, [file]);
    from = `kubeconfig ${file}`;
  } else if (env['KUBECONFIG']) {
    const listed = [...new Set(env['KUBECONFIG'].split(delimiter).filter((p) => p !== ''))];
    const present = listed.filter((p) => existsSync(p));
    if (present.length === 0) throw new KubeConfigError(`$KUBECONFIG names no file that exists (${listed.join(delimiter)})`);
    readInto(kc, present);
    from = `$KUBECONFIG (${present.join(delimiter)})`;
  } else if (env['HOME'] && existsSync(join(env['HOME'], '.kube', 'config'))) {
    const home = join(env['HOME'], '.kube', 'config');
    readInto(kc, [home]);
    from = `kubeconfig ${home}`;
  } else if (env['KUBERNETES_SERVICE_HOST'] && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    if (context) throw new KubeConfigError(`--context ${context}: running in a cluster with no kubeconfig, so there are no contexts to choose from`);
    kc.loadFromCluster();
    return kc;
  } else {
    throw new KubeConfigError('no kubeconfig: no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, and not running in a cluster (no service account token)');
  }
  if (context) {
    if (!kc.getContexts().some((c) => c.name === context)) {
      throw new KubeConfigError(`--context ${context} is not a context of ${from} (it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) {
    throw new KubeConfigError(`${from} has no current cluster${context ? '' : ' (set current-context, or pass --context)'}`);
  }
  return kc;
}

/** Loads files into kc, merged as kubectl merges KUBECONFIG: the first to set each name wins. */
function readInto(kc: KubeConfig, files: readonly string[]): void {
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let current = '';
  for (const f of files) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(f); // relative paths in it are made absolute against its own folder
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${f}: ${firstLine(err)}`);
    }
    for (const c of one.getClusters()) if (!clusters.some((x) => x.name === c.name)) clusters.push(c);
    for (const u of one.getUsers()) if (!users.some((x) => x.name === u.name)) users.push(u);
    for (const c of one.getContexts()) if (!contexts.some((x) => x.name === c.name)) contexts.push(c);
    if (current === '' && one.getCurrentContext()) current = one.getCurrentContext();
  }
  kc.loadFromOptions({ clusters, users, contexts, currentContext: current });
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
