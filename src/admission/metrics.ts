// Prometheus metrics of the webhook, in a registry of their own (not prom-client's global one), so that
// several webhooks can run in one process (tests, the demo) without clashing.
import { X509Certificate } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TlsSource } from '../certs/source.ts';

export interface WebhookMetrics {
  registry: Registry;
  /** one per answered AdmissionReview */
  decisions: Counter<'rule' | 'kind'>;
  /** answered reviews whose response carried a JSONPatch */
  patched: Counter<'kind'>;
  /** warnings returned to the client (kept replicas, invalid policy), by decision rule */
  warnings: Counter<'rule'>;
  /** /mutate requests from first byte to last, by HTTP status ("aborted" when the client went away) */
  duration: Histogram<'code'>;
  inFlight: Gauge;
  /** requests answered with an error status (400, 404, 405, 408, 413, 415, 500, 503) */
  rejected: Counter<'code'>;
  /** requests and connections dropped by a limit of the server (server.ts), by the limit that dropped them */
  shed: Counter<'reason'>;
  /** TCP connections open on the HTTPS port */
  openConnections: Gauge;
  /** request body bytes reserved right now (announced or received), against --max-buffered-mib */
  bufferedBytes: Gauge;
  /** keeps label cardinality bounded: a caller can send any kind it likes */
  kindLabel(kind: string): string;
}

const MAX_KIND_LABELS = 32;

/**
 * Why the server dropped a request or connection. `body-budget` and `max-connections` can hit the
 * apiserver itself, which then admits unmutated (failurePolicy: Ignore): alert on any of them.
 */
export const SHED_REASONS = ['body-budget', 'max-connections', 'handshake-timeout', 'request-timeout'] as const;
export type ShedReason = (typeof SHED_REASONS)[number];

export interface MetricsOptions {
  /** process and Node.js metrics (CPU, memory, event loop lag, GC); default true */
  defaultMetrics?: boolean;
  /** exports the serving certificate's expiry */
  tls?: TlsSource;
}

export function createWebhookMetrics(opts: MetricsOptions = {}): WebhookMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  const decisions = new Counter({
    name: 'kube_latch_webhook_decisions_total',
    help: 'AdmissionReviews answered, by decision rule and workload kind',
    labelNames: ['rule', 'kind'] as const,
    registers: [registry],
  });
  const patched = new Counter({
    name: 'kube_latch_webhook_patched_total',
    help: 'AdmissionReviews answered with a JSONPatch, by workload kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const warnings = new Counter({
    name: 'kube_latch_webhook_warnings_total',
    help: 'Warnings returned with AdmissionReviews (kept replicas, invalid policy), by decision rule',
    labelNames: ['rule'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'kube_latch_webhook_request_duration_seconds',
    help: 'Time to answer a /mutate request, from its first byte to the response, by HTTP status',
    labelNames: ['code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'kube_latch_webhook_requests_in_flight',
    help: '/mutate requests being read or answered',
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'kube_latch_webhook_rejected_requests_total',
    help: 'Requests answered with an error status, by HTTP status',
    labelNames: ['code'] as const,
    registers: [registry],
  });

  const shed = new Counter({
    name: 'kube_latch_webhook_shed_total',
    help: 'Requests answered 503 because the body budget was full (body-budget), and connections closed by a limit: max-connections (closed on accept), handshake-timeout, request-timeout (headers or body not in time, 408; also a connection that never sends a request)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Every reason exists from the start, so that rate() and absent-series alerts see zeros, not gaps.
  for (const reason of SHED_REASONS) shed.inc({ reason }, 0);
  const openConnections = new Gauge({
    name: 'kube_latch_webhook_open_connections',
    help: 'TCP connections open on the HTTPS port (capped by --max-connections)',
    registers: [registry],
  });
  const bufferedBytes = new Gauge({
    name: 'kube_latch_webhook_buffered_body_bytes',
    help: 'Request body bytes reserved now (announced Content-Length or received so far), capped by --max-buffered-mib',
    registers: [registry],
  });

  const tls = opts.tls;
  if (tls) {
    tls.registerMetrics?.(registry);
    let cached: { pem: string; notAfter: number } | undefined;
    new Gauge({
      name: 'kube_latch_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate, as a Unix time',
      registers: [registry],
      collect() {
        const pem = tls.current().cert;
        if (cached?.pem !== pem) cached = { pem, notAfter: new X509Certificate(pem).validToDate.getTime() / 1000 };
        this.set(cached.notAfter);
      },
    });
  }

  const kinds = new Set<string>();
  const kindLabel = (kind: string): string => {
    if (kinds.has(kind)) return kind;
    if (kinds.size >= MAX_KIND_LABELS || !/^[A-Za-z][A-Za-z0-9]{0,62}$/.test(kind)) return 'other';
    kinds.add(kind);
    return kind;
  };

  return { registry, decisions, patched, warnings, duration, inFlight, rejected, shed, openConnections, bufferedBytes, kindLabel };
}
