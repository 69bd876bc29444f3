// What several e2e suites read from the apiserver itself: its admission-webhook counters (the apiserver's
// own account of calls, fail-opens and rejections), and credentials of a ServiceAccount alone, so that a
// process can be run with exactly the RBAC the chart grants.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { TestCluster } from './cluster.ts';

export type Labels = Record<string, string>;
export interface Sample {
  labels: Labels;
  value: number;
}

export interface WebhookCounters {
  requests: Sample[];
  failOpen: Sample[];
  rejections: Sample[];
}

/** The apiserver's admission-webhook counters for the named webhooks, from GET /metrics. */
export async function webhookCounters(c: TestCluster, hooks: readonly string[]): Promise<WebhookCounters> {
  const text = (await c.kubectl(['get', '--raw', '/metrics'])).stdout;
  const pick = (metric: string) => parseProm(text, metric).filter((s) => hooks.includes(s.labels['name'] ?? ''));
  return {
    requests: pick('apiserver_admission_webhook_request_total'),
    failOpen: pick('apiserver_admission_webhook_fail_open_count'),
    rejections: pick('apiserver_admission_webhook_rejection_count'),
  };
}

function parseProm(text: string, metric: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric + '{') && !line.startsWith(metric + ' ')) continue;
    const m = /^[a-z_]+(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    for (const l of (m[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[2]) });
  }
  return out;
}

export function sum(samples: Sample[], where: (l: Labels) => boolean = () => true): number {
  return samples.filter((s) => where(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** A kubeconfig file in `dir` that authenticates with a fresh token of the ServiceAccount, nothing else. */
export async function serviceAccountKubeconfig(c: TestCluster, dir: string, namespace: string, sa: string): Promise<string> {
  const token = (await c.kubectl(['create', 'token', sa, '-n', namespace, '--duration=1h'])).stdout.trim();
  const admin = new KubeConfig();
  admin.loadFromFile(c.kubeconfig);
  const cluster = admin.getCurrentCluster()!;
  const file = join(dir, `${sa}.kubeconfig`);
  const kc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dev', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: 'dev', user: sa, namespace } }],
    'current-context': 'sa',
  };
  writeFileSync(file, JSON.stringify(kc), { mode: 0o600 });
  return file;
}
