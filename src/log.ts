// pino JSON logs on stdout. Secrets never reach a log line: redact paths cover the fields a token could
// sit in, and every string field and message has its URLs' credentials redacted (src/redact.ts), so a
// `--repo https://TOKEN@host/r` or git's echo of it is printed as `https://[redacted]@host/r`.
import { pino, type Logger } from 'pino';
import { redactUrl } from './redact.ts';

export type { Logger };

/** Strings with a URL carrying userinfo are redacted; objects and arrays are walked a few levels deep. */
export function redactFields(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.includes('@') && value.includes('://') ? redactUrl(value) : value;
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  if (value instanceof Error) {
    const message = redactFields(value.message) as string;
    const stack = redactFields(value.stack) as string | undefined;
    return message === value.message && stack === value.stack ? value : { type: value.name, message, stack };
  }
  // Copied only when something changes: a line without a URL costs one pass over its fields.
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    const v = obj[k];
    if (typeof v !== 'string' && (typeof v !== 'object' || v === null)) continue;
    const r = redactFields(v, depth + 1);
    if (r !== v) (out ??= { ...obj })[k] = r;
  }
  return out ?? value;
}

export function createLogger(component: string, level = process.env['KUBE_LATCH_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
    formatters: { log: (obj) => redactFields(obj) as Record<string, unknown> },
    hooks: {
      // The message string, which formatters.log does not see.
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactFields(args[i]);
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  });
}
