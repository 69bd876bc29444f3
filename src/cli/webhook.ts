// `kube-latch webhook`: the HTTPS admission server (DESIGN §3, §5, §6). Runs until SIGTERM or SIGINT,
// then drains in-flight requests and exits 0.
import { isIP } from 'node:net';
import { CERTS_MODES, loadTlsSource, TlsSourceError, UnsupportedCertsModeError } from '../certs/source.ts';
import { SELF_SIGNED_FLAGS, selfSignedConfigFromFlags } from '../certs/self-signed-flags.ts';
import { describePolicy, policyFromFlags, PolicyError, type PolicyDefaults } from '../latch/index.ts';
import type { ServerLimits } from '../admission/server.ts';
import { createLogger } from '../log.ts';
import { choice, helpText, int, list, MAX_BOUND, parseFlags, seconds, str, UsageError, type FlagSpec, type FlagValues } from './flags.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const webhookFlags: FlagSpec[] = [
  { name: 'port', type: 'string', arg: 'PORT', help: 'HTTPS port serving POST /mutate', default: '9443' },
  { name: 'metrics-port', type: 'string', arg: 'PORT', help: 'plain-HTTP port for /healthz, /readyz, /metrics', default: '8080' },
  { name: 'bind-address', type: 'string', arg: 'ADDR', help: 'address both ports listen on', default: '0.0.0.0' },
  { name: 'certs', type: 'string', arg: 'MODE', help: `where the serving certificate comes from: ${CERTS_MODES.join(', ')}`, default: 'file' },
  { name: 'cert-dir', type: 'string', arg: 'DIR', help: 'directory with tls.crt and tls.key (--certs file), reloaded when they change', default: '/tls' },
  { name: 'ladder', type: 'string', arg: 'LADDER', help: 'default ladder: 1-2-5, sig1, decade, step:N, exact', default: '1-2-5' },
  { name: 'tolerance', type: 'string', arg: 'R', help: 'default band ratio r ≥ 1', default: '2' },
  { name: 'min-replicas', type: 'string', arg: 'N', help: 'default lower bound (default 0)' },
  { name: 'max-replicas', type: 'string', arg: 'N', help: 'default upper bound (default unbounded)' },
  { name: 'extra-workload', type: 'string', multiple: true, arg: 'GROUP/RESOURCE', help: 'another resource with spec.replicas and a scale subresource to latch, e.g. example.com/widgets' },
  { name: 'log-level', type: 'string', arg: 'LEVEL', help: `log level: ${LOG_LEVELS.join(', ')}`, default: 'info' },
  // Limits against hostile clients (docs/security.md); the defaults fit the chart's 256Mi and the apiserver's
  // 5 s call timeout.
  { name: 'max-connections', type: 'string', arg: 'N', help: 'TCP connections open at once on --port; more are closed on accept', default: '512' },
  { name: 'max-buffered-mib', type: 'string', arg: 'MIB', help: 'request bodies held at once, by announced length (bodies over 1 MiB get half); beyond it: 503', default: '32' },
  { name: 'tls-handshake-timeout', type: 'string', arg: 'DURATION', help: 'time from accept to a finished TLS handshake', default: '5s' },
  { name: 'headers-timeout', type: 'string', arg: 'DURATION', help: 'time from a request\'s first byte (from the handshake for a connection\'s first) to its headers (then 408)', default: '5s' },
  { name: 'request-timeout', type: 'string', arg: 'DURATION', help: 'time from a request\'s first byte to its whole body (then 408)', default: '5s' },
  { name: 'idle-timeout', type: 'string', arg: 'DURATION', help: 'a kept-alive connection waiting for its next request is closed after this; keep it above the apiserver\'s 90 s', default: '120s' },
  ...SELF_SIGNED_FLAGS,
];

/** Longest timeout accepted: anything longer is a typo, not a plan. */
const MAX_TIMEOUT_SECONDS = 3600;

/** Reads the limit flags into server limits. Throws UsageError. */
export function limitsFromFlags(f: FlagValues): ServerLimits {
  const ms = (name: string): number => {
    const s = seconds(f, name)!;
    if (!(s > 0) || s > MAX_TIMEOUT_SECONDS) throw new UsageError(`--${name} must be more than 0 and at most ${MAX_TIMEOUT_SECONDS}s, got "${str(f, name)}"`);
    return Math.max(1, Math.round(s * 1000));
  };
  const limits: ServerLimits = {
    maxConnections: int(f, 'max-connections', { min: 1, max: 1_000_000 })!,
    // the large half of the budget must hold one body of the 3 MiB cap
    maxBufferedBytes: int(f, 'max-buffered-mib', { min: 6, max: 65_536 })! * 1024 * 1024,
    tlsHandshakeTimeoutMs: ms('tls-handshake-timeout'),
    headersTimeoutMs: ms('headers-timeout'),
    requestTimeoutMs: ms('request-timeout'),
    idleTimeoutMs: ms('idle-timeout'),
  };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new UsageError(`--headers-timeout (${str(f, 'headers-timeout')}) must not exceed --request-timeout (${str(f, 'request-timeout')})`);
  }
  return limits;
}

export async function run(argv: string[]): Promise<number> {
  const f = parseFlags(webhookFlags, argv);
  if (f['help']) {
    process.stdout.write(
      helpText(
        'kube-latch webhook [flags]',
        'Serves the mutating admission webhook (POST /mutate over HTTPS) that keeps live replicas inside the latched band.',
        webhookFlags,
      ),
    );
    return 0;
  }
  const port = int(f, 'port', { max: 65535 })!;
  const metricsPort = int(f, 'metrics-port', { max: 65535 })!;
  const bindAddress = str(f, 'bind-address')!;
  const mode = choice(f, 'certs', CERTS_MODES)!;
  const certDir = str(f, 'cert-dir')!;
  const level = choice(f, 'log-level', LOG_LEVELS)!;
  const extraWorkloads = list(f, 'extra-workload');
  for (const w of extraWorkloads) {
    if (!/^[a-z0-9.-]*\/[a-z0-9-]+$/.test(w)) throw new UsageError(`--extra-workload must be GROUP/RESOURCE (e.g. example.com/widgets), got "${w}"`);
  }
  const defaults: PolicyDefaults & { extraWorkloads?: string[] } = {
    ladder: str(f, 'ladder'),
    tolerance: str(f, 'tolerance'),
    min: int(f, 'min-replicas', { max: MAX_BOUND }),
    max: int(f, 'max-replicas', { max: MAX_BOUND }),
  };
  if (extraWorkloads.length > 0) defaults.extraWorkloads = extraWorkloads;
  let policy;
  try {
    policy = policyFromFlags(defaults);
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(e.message);
    throw e;
  }
  const limits = limitsFromFlags(f);
  if (isIP(bindAddress) === 0) throw new UsageError(`--bind-address must be an IP address, got "${bindAddress}"`);
  if (port !== 0 && port === metricsPort) throw new UsageError(`--port and --metrics-port must differ, both are ${port}`);

  const log = createLogger('webhook', level);
  let tls;
  try {
    tls = await loadTlsSource(mode, { certDir, log, ...(mode === 'self-signed' ? { selfSigned: selfSignedConfigFromFlags(f) } : {}) });
  } catch (e) {
    if (e instanceof UnsupportedCertsModeError) throw new UsageError(e.message);
    if (e instanceof TlsSourceError) {
      process.stderr.write(`kube-latch webhook: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  log.info({ policy: describePolicy(policy), certs: mode, certDir: mode === 'file' ? certDir : undefined }, 'serving certificate ready; starting webhook');

  // Loaded only now, so that flag errors and --help do not pay for express and prom-client.
  const { startWebhook } = await import('../admission/server.ts');
  const stopped = stopSignal();
  const handle = await startWebhook({ port, metricsPort, bindAddress, tls, defaults, log, limits });
  const signal = await stopped;
  log.info({ signal }, 'shutting down: draining in-flight requests');
  await handle.close();
  return 0;
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once with 1. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (signal: NodeJS.Signals) => {
      if (seen) {
        process.stderr.write(`kube-latch webhook: second ${signal}, exiting without draining\n`);
        process.exit(1);
      }
      seen = true;
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
