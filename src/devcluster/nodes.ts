// The fake Nodes kwok manages, and how many of them are Ready.
import { call, type ApiCredentials } from './api.ts';

/** A Node for kwok to manage, like kwok's documented example but without its NoSchedule taint. */
export function fakeNode(name: string): object {
  const resources = { cpu: '32', memory: '256Gi', pods: '110' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'kwok.x-k8s.io/node': 'fake',
        // where metrics-server finds kwok's emulated kubelet resource metrics for this node
        'metrics.k8s.io/resource-metrics-path': `/metrics/nodes/${name}/metrics/resource`,
      },
      labels: {
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

export async function readyNodes(creds: ApiCredentials): Promise<number> {
  try {
    const res = await call(creds, 'GET', '/api/v1/nodes');
    if (res.status !== 200) return 0;
    const list = JSON.parse(res.body) as { items: { status?: { conditions?: { type: string; status: string }[] } }[] };
    return list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  } catch {
    return 0;
  }
}
