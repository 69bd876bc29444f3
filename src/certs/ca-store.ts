// Where self-signed mode keeps its state in the cluster: the CA in a Secret of the release namespace, and
// the trusted CAs in the MutatingWebhookConfiguration's caBundle. Every write is conditional on the
// resourceVersion it read, so replicas racing each other never overwrite a newer state: the loser gets a
// conflict, re-reads and decides again. Both objects are watched by name, so that a Secret or caBundle
// that someone replaced (`helm upgrade --force`, Argo CD `Replace=true`) is seen at once, not at the next poll.
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, Watch, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { statusOf } from '../kube/client.ts';

/** The Secret's keys: the current CA, its key, and every CA still to be trusted (current first). */
export const CA_CERT_KEY = 'ca.crt';
export const CA_KEY_KEY = 'ca.key';
export const TRUST_KEY = 'trust.crt';

export interface SecretState {
  /** decoded values; empty when the Secret exists without data (as the Helm chart creates it) */
  data: Record<string, string>;
  resourceVersion: string;
}

export interface WebhookBundles {
  resourceVersion: string;
  /** each webhook of the configuration with its caBundle as PEM ('' when unset) */
  webhooks: Array<{ name: string; bundle: string }>;
}

/** The cluster state self-signed mode reads and writes; a fake stands in for it in unit tests. */
export interface CAStore {
  /** `namespace/name` of the Secret, for logs */
  readonly secretName: string;
  readSecret(): Promise<SecretState | undefined>;
  /** false when the Secret already exists (another replica won the race) */
  createSecret(data: Record<string, string>): Promise<boolean>;
  /** false when the Secret changed since `resourceVersion` */
  replaceSecret(data: Record<string, string>, resourceVersion: string): Promise<boolean>;
  /** undefined when the webhook configuration does not exist */
  readBundles(): Promise<WebhookBundles | undefined>;
  /** Sets every named webhook's caBundle to `bundle`; false when the configuration changed since `resourceVersion`. */
  writeBundles(bundle: string, names: readonly string[], resourceVersion: string): Promise<boolean>;
  /**
   * Calls `onEvent` whenever the Secret or the webhook configuration may have changed (also once when each
   * watch (re)starts), and `onError` when a watch cannot run (it is retried). Returns a stop function.
   */
  watch(onEvent: () => void, onError: (what: string, err: unknown) => void): () => void;
}

/** The apiserver ends each watch after this long (and client-node's idle timeout is set above it). */
const WATCH_SECONDS = 300;
/** Waits before restarting a watch that failed, by consecutive failures. */
const WATCH_RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export interface KubeCAStoreOptions {
  namespace: string;
  secretName: string;
  webhookConfig: string;
}

export function kubeCAStore(kc: KubeConfig, opts: KubeCAStoreOptions): CAStore {
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const { namespace, secretName: name, webhookConfig } = opts;
  const body = (data: Record<string, string>, resourceVersion?: string): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  });
  const unlessConflict = (err: unknown): false => {
    if (statusOf(err) === 409) return false;
    throw err;
  };
  return {
    secretName: `${namespace}/${name}`,
    async readSecret() {
      let s: V1Secret;
      try {
        s = await core.readNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
      return { data, resourceVersion: s.metadata?.resourceVersion ?? '' };
    },
    async createSecret(data) {
      try {
        const created = body(data);
        created.metadata!.labels = { 'app.kubernetes.io/component': 'self-signed-ca', 'app.kubernetes.io/managed-by': 'kube-latch' };
        await core.createNamespacedSecret({ namespace, body: created });
        return true;
      } catch (err) {
        return unlessConflict(err);
      }
    },
    async replaceSecret(data, resourceVersion) {
      try {
        // Read-modify-write keeps the labels and annotations that Helm or an operator set.
        const current = await core.readNamespacedSecret({ name, namespace });
        if (current.metadata?.resourceVersion !== resourceVersion) return false;
        await core.replaceNamespacedSecret({ name, namespace, body: { ...body(data, resourceVersion), metadata: { ...current.metadata, resourceVersion } } });
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        return unlessConflict(err);
      }
    },
    async readBundles() {
      try {
        const c = await admission.readMutatingWebhookConfiguration({ name: webhookConfig });
        return {
          resourceVersion: c.metadata?.resourceVersion ?? '',
          webhooks: (c.webhooks ?? []).map((w) => ({
            name: w.name,
            bundle: w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '',
          })),
        };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async writeBundles(bundle, names, resourceVersion) {
      // A strategic merge patch keyed by webhook name touches only caBundle; the resourceVersion in it is
      // a precondition (409 when the configuration changed since it was read).
      const caBundle = Buffer.from(bundle, 'utf8').toString('base64');
      const patch = {
        metadata: { resourceVersion },
        webhooks: names.map((n) => ({ name: n, clientConfig: { caBundle } })),
      };
      try {
        await admission.patchMutatingWebhookConfiguration(
          { name: webhookConfig, body: patch, fieldManager: 'kube-latch' },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        );
        return true;
      } catch (err) {
        return unlessConflict(err);
      }
    },
    watch(onEvent, onError) {
      const stops = [
        watchByName(kc, `/api/v1/namespaces/${namespace}/secrets`, name, `Secret ${namespace}/${name}`, onEvent, onError),
        ...(webhookConfig
          ? [watchByName(kc, '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', webhookConfig, `MutatingWebhookConfiguration ${webhookConfig}`, onEvent, onError)]
          : []),
      ];
      return () => stops.forEach((stop) => stop());
    },
  };
}

/**
 * Watches one object by name (a `metadata.name` field selector, which RBAC authorizes with resourceNames),
 * restarting the watch whenever it ends: from the last resourceVersion seen, or, after an error, from
 * the object as it stands (a watch without a resourceVersion first reports it), so no change goes unseen.
 */
function watchByName(
  kc: KubeConfig,
  path: string,
  name: string,
  what: string,
  onEvent: () => void,
  onError: (what: string, err: unknown) => void,
): () => void {
  const w = new Watch(kc);
  // client-node aborts a watch idle for 30 s; a single object is idle for days. The field is private in
  // the typings only; if a release drops it, the watch restarts every 30 s, which costs nothing but a request.
  (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (WATCH_SECONDS + 30) * 1000;
  let stopped = false;
  let failures = 0;
  let resourceVersion: string | undefined;
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  const again = (err: unknown): void => {
    controller = undefined;
    if (stopped) return;
    if (err) {
      onError(what, err);
      failures++;
      resourceVersion = undefined;
    }
    timer = setTimeout(start, err ? WATCH_RETRY_MS[Math.min(failures, WATCH_RETRY_MS.length) - 1] : 200);
    timer.unref();
  };
  const start = (): void => {
    const query = { fieldSelector: `metadata.name=${name}`, timeoutSeconds: WATCH_SECONDS, ...(resourceVersion ? { resourceVersion } : {}) };
    w.watch(
      path,
      query,
      (phase, obj: { metadata?: { resourceVersion?: string } } | undefined) => {
        if (phase === 'ERROR') {
          // e.g. 410 Gone: the resourceVersion is too old. The apiserver ends the watch; start afresh.
          resourceVersion = undefined;
          return;
        }
        resourceVersion = obj?.metadata?.resourceVersion || undefined;
        failures = 0;
        onEvent();
      },
      again,
    ).then(
      (c) => {
        if (stopped) c.abort();
        else controller = c;
      },
      again,
    );
  };
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
