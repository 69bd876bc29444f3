// The webhook started the way the CLI starts it, but with the costs that the CLI always pays made
// optional, to price them: KL_LOG_LEVEL (default info), KL_DEFAULT_METRICS=0 (no process metrics), and
// KL_LOGGER=explicit-redact (src/log.ts's logger with its wildcard redact paths spelled out for the top
// level) or KL_LOGGER=async (src/log.ts's logger writing through an asynchronous destination).
// Used only by bench/variants.ts.
//
//   node bench/lib/webhook-variant.ts --port P --metrics-port M --cert-dir DIR
import { parseArgs } from 'node:util';
import { startWebhook } from '../../src/admission/server.ts';
import { loadTlsSource } from '../../src/certs/source.ts';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../src/log.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, 'metrics-port': { type: 'string' }, 'cert-dir': { type: 'string' } } });
const level = process.env['KL_LOG_LEVEL'] ?? 'info';
const like = (redact: string[], dest?: ReturnType<typeof pino.destination>): Logger =>
  pino({ level, base: { component: 'webhook' }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: redact, censor: '[redacted]' } }, dest);
const WILDCARDS = ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'];
const log =
  process.env['KL_LOGGER'] === 'explicit-redact'
    ? like(['token', 'authorization', 'headers.authorization'])
    : process.env['KL_LOGGER'] === 'async'
      ? like(WILDCARDS, pino.destination({ dest: 1, sync: false }))
      : createLogger('webhook', level);
const tls = await loadTlsSource('file', { certDir: values['cert-dir']!, log });
const handle = await startWebhook({
  port: Number(values.port),
  metricsPort: Number(values['metrics-port']),
  bindAddress: '127.0.0.1',
  tls,
  log,
  defaultMetrics: process.env['KL_DEFAULT_METRICS'] !== '0',
});
process.once('SIGTERM', () => void handle.close().then(() => process.exit(0)));
