// `kube-latch webhook`: the HTTPS admission server (DESIGN §3, §5, §6). Runs until SIGTERM or SIGINT,
// then drains in-flight requests and exits 0.
import { isIP } from 'node:net';
import { CERTS_MODES, loadTlsSource, TlsSourceError, UnsupportedCertsModeError } from '../certs/source.ts';
import { SELF_SIGNED_FLAGS, selfSignedConfigFromFlags } from '../certs/self-signed-flags.ts';
import { describePolicy, policyFromFlags, PolicyError, type PolicyDefaults } from '../latch/index.ts';
import { createLogger } from '../log.ts';
import { choice, helpText, int, list, MAX_BOUND, parseFlags, str, UsageError, type FlagSpec } from './flags.ts';

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
  ...SELF_SIGNED_FLAGS,
];

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
  const handle = await startWebhook({ port, metricsPort, bindAddress, tls, defaults, log });
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
