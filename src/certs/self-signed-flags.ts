// The settings of `--certs self-signed` as flags (each also read from KUBE_LATCH_*), apart from the source
// itself so that parsing them loads neither the Kubernetes client nor node-forge.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { FlagSpec, FlagValues } from '../cli/flags.ts';
import { UsageError, list, seconds, str } from '../cli/flags.ts';

/** What an operator configures (flags or KUBE_LATCH_* env). */
export interface SelfSignedConfig {
  /** namespace of the Service and the CA Secret */
  namespace: string;
  serviceName: string;
  /** MutatingWebhookConfiguration whose caBundle is kept current; '' leaves caBundle to someone else */
  webhookConfig: string;
  caSecret: string;
  caLifetimeSeconds: number;
  certLifetimeSeconds: number;
  /** extra DNS names or IP addresses for the serving certificate (e.g. 127.0.0.1 for a url: webhook) */
  extraSans: string[];
  /** --kubeconfig; undefined means as kubectl finds one ($KUBECONFIG, ~/.kube/config, in-cluster) */
  kubeconfig?: string;
  /** --context */
  context?: string;
}

export const DEFAULT_CA_LIFETIME = '8760h';
export const DEFAULT_CERT_LIFETIME = '720h';
const MAX_LIFETIME_SECONDS = 100 * 365 * 86_400;
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The flags `kube-latch webhook` adds for `--certs self-signed`. */
export const SELF_SIGNED_FLAGS: FlagSpec[] = [
  { name: 'namespace', type: 'string', arg: 'NS', help: 'self-signed: namespace of the Service and CA Secret (default: the pod\'s)' },
  { name: 'service-name', type: 'string', arg: 'NAME', default: 'kube-latch', help: 'self-signed: the webhook Service, named in the certificate' },
  { name: 'webhook-config', type: 'string', arg: 'NAME', default: 'kube-latch', help: 'self-signed: MutatingWebhookConfiguration whose caBundle is kept current ("" for none)' },
  { name: 'ca-secret', type: 'string', arg: 'NAME', default: 'kube-latch-self-signed-ca', help: 'self-signed: Secret that holds the CA' },
  { name: 'ca-lifetime', type: 'string', arg: 'DURATION', default: DEFAULT_CA_LIFETIME, help: 'self-signed: CA validity; renewed at 2/3' },
  { name: 'cert-lifetime', type: 'string', arg: 'DURATION', default: DEFAULT_CERT_LIFETIME, help: 'self-signed: serving certificate validity; renewed at 2/3' },
  { name: 'cert-san', type: 'string', multiple: true, default: [], arg: 'NAME|IP', help: 'self-signed: extra DNS name or IP in the serving certificate' },
  { name: 'kubeconfig', type: 'string', arg: 'FILE', help: 'self-signed: kubeconfig for the CA Secret and caBundle (default, as kubectl: $KUBECONFIG, ~/.kube/config, in-cluster)' },
  { name: 'context', type: 'string', arg: 'NAME', help: 'self-signed: kubeconfig context to use (default: its current-context)' },
];

/** Reads SELF_SIGNED_FLAGS. Throws UsageError. */
export function selfSignedConfigFromFlags(v: FlagValues): SelfSignedConfig {
  const namespace = str(v, 'namespace') || podNamespace();
  if (!namespace) throw new UsageError('--namespace is required with --certs self-signed outside a cluster');
  const serviceName = str(v, 'service-name') ?? 'kube-latch';
  const caSecret = str(v, 'ca-secret') ?? 'kube-latch-self-signed-ca';
  for (const [flag, value] of [['namespace', namespace], ['service-name', serviceName], ['ca-secret', caSecret]] as const) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) || value.length > 63) {
      throw new UsageError(`--${flag} must be a DNS label (lowercase letters, digits, '-'), got "${value.slice(0, 70)}"`);
    }
  }
  const caLifetimeSeconds = lifetime(v, 'ca-lifetime', DEFAULT_CA_LIFETIME);
  const certLifetimeSeconds = lifetime(v, 'cert-lifetime', DEFAULT_CERT_LIFETIME);
  const extraSans = list(v, 'cert-san');
  for (const san of extraSans) {
    if (isIP(san) === 0 && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(san)) {
      throw new UsageError(`--cert-san must be a DNS name or an IP address, got "${san.slice(0, 70)}"`);
    }
  }
  const kubeconfig = str(v, 'kubeconfig') || undefined;
  const context = str(v, 'context') || undefined;
  return {
    namespace,
    serviceName,
    webhookConfig: str(v, 'webhook-config') ?? 'kube-latch',
    caSecret,
    caLifetimeSeconds,
    certLifetimeSeconds,
    extraSans,
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(context ? { context } : {}),
  };
}

function lifetime(v: FlagValues, name: string, fallback: string): number {
  // A lifetime is no timer (renewal runs on the reconcile period), so the 30-day bound of timers does not apply.
  const s = seconds(v, name, { max: MAX_LIFETIME_SECONDS }) ?? seconds({ [name]: fallback }, name, { max: MAX_LIFETIME_SECONDS })!;
  if (s < 3) throw new UsageError(`--${name} must be at least 3 seconds, got ${s}`);
  return Math.floor(s);
}

function podNamespace(): string | undefined {
  if (!existsSync(SA_NAMESPACE_FILE)) return undefined;
  return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
}
