// metrics-server scraping kwok's emulated kubelet resource metrics (CPU from the pod annotation
// kwok.x-k8s.io/usage-cpu), served through the aggregator as metrics.k8s.io, so the HPA controller of
// kube-controller-manager scales for real through /scale.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { call } from '../api.ts';
import { freePort } from '../processes.ts';
import { CONTROLPLANE_DIR } from '../versions.ts';
import type { Extra } from './extras.ts';

export const USAGE_CPU_ANNOTATION = 'kwok.x-k8s.io/usage-cpu';

export function metricsExtra(): Extra {
  let exe = '';
  let kwokPort = 0;
  let port = 0;
  return {
    tools: ['metrics-server'],
    async plan(dirs) {
      exe = join(dirs['metrics-server']!, 'metrics-server');
      kwokPort = await freePort();
      port = await freePort();
      const configs = join(CONTROLPLANE_DIR, 'metrics-server', 'kwok');
      return {
        kwokArgs: [
          '--node-ip=127.0.0.1',
          `--node-port=${kwokPort}`,
          `--server-address=127.0.0.1:${kwokPort}`,
          '-c', join(configs, 'metrics-resource.yaml'),
          '-c', join(configs, 'usage-from-annotation.yaml'),
        ],
      };
    },
    async start(ctx) {
      const certDir = join(ctx.dir, 'metrics-server');
      mkdirSync(certDir, { recursive: true });
      ctx.launch('metrics-server', exe, [
        `--kubeconfig=${ctx.kubeconfig}`,
        `--authentication-kubeconfig=${ctx.kubeconfig}`,
        `--authorization-kubeconfig=${ctx.kubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        '--kubelet-preferred-address-types=InternalIP',
        '--kubelet-use-node-status-port',
        '--kubelet-insecure-tls',
        '--metric-resolution=10s',
        // metrics-server refuses a resolution not above the kubelet request timeout (default 10 s).
        '--kubelet-request-timeout=5s',
      ]);
      // The aggregator resolves an ExternalName Service to externalName:port, so no Endpoints are needed.
      const service = {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'metrics-server', namespace: 'kube-system' },
        spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ name: 'https', port, protocol: 'TCP' }] },
      };
      const apiService = {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1beta1.metrics.k8s.io' },
        spec: {
          service: { name: 'metrics-server', namespace: 'kube-system', port },
          group: 'metrics.k8s.io',
          version: 'v1beta1',
          insecureSkipTLSVerify: true,
          groupPriorityMinimum: 100,
          versionPriority: 100,
        },
      };
      for (const [path, body] of [['/api/v1/namespaces/kube-system/services', service], ['/apis/apiregistration.k8s.io/v1/apiservices', apiService]] as const) {
        const res = await call(ctx.creds, 'POST', path, body);
        if (res.status !== 201 && res.status !== 409) throw new Error(`creating ${body.kind}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
      }
      // Ready once metrics-server answers through the aggregator. (A node has values only once a pod runs
      // on it: kwok sums its pods' usage, and metrics-server skips a node whose CPU counter is 0.)
      await ctx.waitFor('metrics.k8s.io served by metrics-server', async () => {
        const res = await call(ctx.creds, 'GET', '/apis/metrics.k8s.io/v1beta1/nodes').catch(() => undefined);
        return res?.status === 200;
      });
      ctx.progress('dev-cluster: metrics-server serving metrics.k8s.io');
    },
  };
}
