// Server-side apply straight to the dev cluster's apiserver over one keep-alive connection pool, the way a
// GitOps controller applies (no kubectl process per apply), with each apply's latency and the object the
// apiserver stored. Credentials come from the cluster's kubeconfig (certificates embedded).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { parse } from 'yaml';

export interface ApplyResult {
  status: number;
  ms: number;
  /** the stored object (2xx), or the error text */
  body: any;
}

export interface Applier {
  /** PATCH application/apply-patch+yaml of a namespaced Deployment, field manager `manager`, forced */
  applyDeployment(obj: { metadata: { name: string; namespace: string } }, manager?: string): Promise<ApplyResult>;
  close(): void;
}

export function applierFor(kubeconfigPath: string, opts: { timeoutMs?: number } = {}): Applier {
  const kc = parse(readFileSync(kubeconfigPath, 'utf8'));
  const cluster = kc.clusters[0].cluster;
  const user = kc.users[0].user;
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const server = new URL(cluster.server);
  const agent = new Agent({
    keepAlive: true,
    ca: b64(cluster['certificate-authority-data']),
    cert: b64(user['client-certificate-data']),
    key: b64(user['client-key-data']),
  });
  return {
    applyDeployment(obj, manager = 'kube-latch-bench') {
      const body = JSON.stringify(obj); // JSON is YAML
      const path = `/apis/apps/v1/namespaces/${obj.metadata.namespace}/deployments/${obj.metadata.name}?fieldManager=${manager}&force=true`;
      const started = performance.now();
      return new Promise((resolve, reject) => {
        const req = request(
          { host: server.hostname, port: server.port, path, method: 'PATCH', agent, headers: { 'content-type': 'application/apply-patch+yaml', 'content-length': Buffer.byteLength(body), accept: 'application/json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => {
              const ms = performance.now() - started;
              let parsed: unknown = text;
              try {
                parsed = JSON.parse(text);
              } catch {
                /* keep the text */
              }
              resolve({ status: res.statusCode ?? 0, ms, body: parsed });
            });
            res.on('error', reject);
          },
        );
        req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`apply timed out after ${opts.timeoutMs ?? 30_000} ms`)));
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

/** An opted-in Deployment declaring `replicas`, with a sequence annotation so that every apply writes. */
export function benchDeployment(namespace: string, name: string, replicas: number, seq: number, optIn = true): any {
  const labels: Record<string, string> = { app: name };
  if (optIn) labels['kube-latch.io/enabled'] = 'true';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { 'bench.kube-latch.io/seq': String(seq) } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] } },
    },
  };
}
