// Why an HPA scaled, in one line for a latch commit's body (git as the audit log):
//   "hpa web: cpu 92% / target 70%, desired 48"
// from an autoscaling/v2 HPA's spec.metrics (targets) and status.currentMetrics and desiredReplicas.
// Pure; an HPA without status (never reconciled) still names its targets, with "?" as current.

interface MetricTarget {
  type?: string;
  averageUtilization?: number;
  averageValue?: string | number;
  value?: string | number;
}

interface MetricValue {
  averageUtilization?: number;
  averageValue?: string | number;
  value?: string | number;
}

interface MetricSource {
  type?: string;
  resource?: { name?: string; target?: MetricTarget; current?: MetricValue };
  containerResource?: { name?: string; container?: string; target?: MetricTarget; current?: MetricValue };
  pods?: { metric?: { name?: string }; target?: MetricTarget; current?: MetricValue };
  object?: { metric?: { name?: string }; target?: MetricTarget; current?: MetricValue };
  external?: { metric?: { name?: string }; target?: MetricTarget; current?: MetricValue };
}

export interface HpaLikeForReason {
  metadata?: { name?: string };
  spec?: { metrics?: MetricSource[] };
  status?: { currentMetrics?: MetricSource[] | null; desiredReplicas?: number; currentReplicas?: number };
}

/** Longest reason kept: a commit body line, not an essay (an HPA may list many metrics). */
const MAX = 200;

export function hpaReason(hpa: HpaLikeForReason): string | undefined {
  const name = hpa.metadata?.name;
  if (!name) return undefined;
  const current = new Map<string, MetricValue>();
  for (const m of hpa.status?.currentMetrics ?? []) {
    const d = describeSource(m);
    if (d?.current) current.set(d.key, d.current);
  }
  const parts: string[] = [];
  for (const m of hpa.spec?.metrics ?? []) {
    const d = describeSource(m);
    if (!d || !d.target) continue;
    const cur = current.get(d.key);
    parts.push(`${d.label} ${cur ? valueText(cur, d.target) : '?'} / target ${targetText(d.target)}`);
  }
  const desired = hpa.status?.desiredReplicas;
  if (typeof desired === 'number') parts.push(`desired ${desired}`);
  if (parts.length === 0) return undefined;
  const line = `hpa ${name}: ${parts.join(', ')}`;
  return line.length <= MAX ? line : `${line.slice(0, MAX - 1)}…`;
}

function describeSource(m: MetricSource): { key: string; label: string; target?: MetricTarget; current?: MetricValue } | undefined {
  const pick = (key: string, label: string, s: { target?: MetricTarget; current?: MetricValue }) => ({
    key,
    label,
    ...(s.target ? { target: s.target } : {}),
    ...(s.current ? { current: s.current } : {}),
  });
  switch (m.type) {
    case 'Resource':
      return m.resource?.name ? pick(`r/${m.resource.name}`, m.resource.name, m.resource) : undefined;
    case 'ContainerResource':
      return m.containerResource?.name ? pick(`c/${m.containerResource.container}/${m.containerResource.name}`, `${m.containerResource.container ?? '?'}/${m.containerResource.name}`, m.containerResource) : undefined;
    case 'Pods':
      return m.pods?.metric?.name ? pick(`p/${m.pods.metric.name}`, m.pods.metric.name, m.pods) : undefined;
    case 'Object':
      return m.object?.metric?.name ? pick(`o/${m.object.metric.name}`, m.object.metric.name, m.object) : undefined;
    case 'External':
      return m.external?.metric?.name ? pick(`e/${m.external.metric.name}`, m.external.metric.name, m.external) : undefined;
    default:
      return undefined;
  }
}

function targetText(t: MetricTarget): string {
  if (t.type === 'Utilization' && t.averageUtilization !== undefined) return `${t.averageUtilization}%`;
  if (t.type === 'AverageValue' && t.averageValue !== undefined) return `${t.averageValue} avg`;
  if (t.value !== undefined) return String(t.value);
  return '?';
}

/** The current value in the target's terms. */
function valueText(c: MetricValue, t: MetricTarget): string {
  if (t.type === 'Utilization' && c.averageUtilization !== undefined) return `${c.averageUtilization}%`;
  if (t.type === 'AverageValue' && c.averageValue !== undefined) return `${c.averageValue} avg`;
  if (c.value !== undefined) return String(c.value);
  if (c.averageValue !== undefined) return `${c.averageValue} avg`;
  if (c.averageUtilization !== undefined) return `${c.averageUtilization}%`;
  return '?';
}
