// The demo's admission webhook: `kube-latch webhook` as a child process, serving a certificate from a
// fresh CA with an IP SAN for 127.0.0.1, registered with the apiserver by URL (DESIGN §5), the way
// docs/dev-cluster.md describes for any local webhook.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCA, createLeaf } from '../certs/authority.ts';
import { ENABLED_LABEL } from '../latch/index.ts';
import { httpGet, poll, startCli, type CliChild } from './children.ts';
import type { Kubectl } from './kubectl.ts';

export interface WebhookChild extends CliChild {
  /** https://127.0.0.1:PORT/mutate */
  readonly url: string;
  readonly metricsPort: number;
  /** PEM of the CA that signed the serving certificate */
  readonly caPem: string;
}

/** Writes a CA and serving certificate to certDir and starts the webhook on free loopback ports. */
export async function startWebhookChild(certDir: string, o: { logFile?: string; args?: readonly string[] } = {}): Promise<WebhookChild> {
  mkdirSync(certDir, { recursive: true, mode: 0o700 });
  const ca = createCA({ commonName: 'kube-latch-demo-ca', validitySeconds: 24 * 3600 });
  const leaf = createLeaf(ca, { commonName: 'kube-latch-demo', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validitySeconds: 24 * 3600 });
  writeFileSync(join(certDir, 'tls.crt'), leaf.cert);
  writeFileSync(join(certDir, 'tls.key'), leaf.key, { mode: 0o600 });
  const args = ['--certs', 'file', '--cert-dir', certDir, '--port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1', ...(o.args ?? [])];
  const child = startCli('webhook', args, { ...(o.logFile ? { logFile: o.logFile } : {}) });
  try {
    const l = await child.waitForLog('the webhook to listen', (x) => x.msg === 'webhook listening', 20_000);
    const port = Number(l['port']);
    const metricsPort = Number(l['metricsPort']);
    await poll('webhook /readyz', async () => (await httpGet(metricsPort, '/readyz')).status === 200, 10_000, 50);
    return { ...child, url: `https://127.0.0.1:${port}/mutate`, metricsPort, caPem: ca.cert };
  } catch (e) {
    await child.stop('SIGKILL');
    throw e;
  }
}

/** The MutatingWebhookConfiguration of DESIGN §5, calling a URL. */
export function webhookConfiguration(name: string, url: string, caPem: string): Record<string, unknown> {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'replicas.kube-latch.io',
        admissionReviewVersions: ['v1'],
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        // The workloads themselves, never */scale: an autoscaler writes through the scale subresource.
        rules: [
          { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments', 'statefulsets'], scope: 'Namespaced' },
          { apiGroups: ['argoproj.io'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['rollouts'], scope: 'Namespaced' },
        ],
        objectSelector: { matchLabels: { [ENABLED_LABEL]: 'true' } },
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease', 'kube-latch'] }] },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: 5,
        reinvocationPolicy: 'Never',
        matchPolicy: 'Equivalent',
      },
    ],
  };
}

/**
 * Applies the configuration and waits until the apiserver really calls the webhook: a server-side
 * dry-run create of an opted-in Deployment comes back with kube-latch.io/declared (the apiserver picks up
 * a new configuration within about a second).
 */
export async function registerWebhook(kubectl: Kubectl, name: string, url: string, caPem: string, probeNamespace = 'default'): Promise<void> {
  await kubectl(['apply', '--server-side', '--field-manager=kube-latch-demo', '--force-conflicts', '-f', '-'], { input: JSON.stringify(webhookConfiguration(name, url, caPem)) });
  const probe = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'kube-latch-probe', namespace: probeNamespace, labels: { [ENABLED_LABEL]: 'true' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'kube-latch-probe' } },
      template: { metadata: { labels: { app: 'kube-latch-probe' } }, spec: { containers: [{ name: 'c', image: 'probe' }] } },
    },
  };
  await poll(
    `the apiserver to call webhook ${name}`,
    async () => {
      const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(probe) });
      return JSON.parse(r.stdout)?.metadata?.annotations?.['kube-latch.io/declared'] === '3';
    },
    30_000,
    200,
  );
}
