// pino JSON logs on stdout. Secrets never reach a log line: redact paths cover the places a token could sit.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(component: string, level = process.env['KUBE_LATCH_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
  });
}
