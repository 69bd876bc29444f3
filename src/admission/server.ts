// The webhook's transport: express 5 on node:https serving POST /mutate, plus a plain-HTTP port for
// /healthz, /readyz and /metrics. The decision itself is decide(); this file only moves bytes, bounds
// them, and never lets a bad request take the process down.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import express, { type ErrorRequestHandler, type Express } from 'express';
import type { TlsMaterial, TlsSource } from '../certs/source.ts';
import { createLogger, type Logger } from '../log.ts';
import { createBodyBudget, type BodyBudget } from './body-budget.ts';
import { decide, type DecideConfig } from './decide.ts';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { parseReview, ReviewError } from './review.ts';

/** The largest body accepted; an AdmissionReview holds object and oldObject, each up to etcd's ~1.5 MiB. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/**
 * After a 413 the rest of an oversized body is read and discarded (never kept) up to this many bytes, so
 * that an ordinary client gets to read its 413; a client that sends more loses its connection.
 */
const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024;
export const MUTATE_PATH = '/mutate';
const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * What one hostile client, or many, can make the server hold. The apiserver calls with a 5 s deadline
 * (timeoutSeconds: 5) and abandons the call after it, so nothing useful arrives later than that; it keeps
 * connections for reuse and closes them after 90 s idle, so the server waits longer than that before it
 * closes a kept-alive one (a close racing the apiserver's next POST would fail that call, and Go does not
 * retry a POST). docs/security.md explains each default.
 */
export interface ServerLimits {
  /** TCP connections open at once on the HTTPS port; more are closed on accept */
  maxConnections: number;
  /** request body bytes held at once (by announced Content-Length); beyond it a request gets 503 */
  maxBufferedBytes: number;
  /** time from TCP accept to a finished TLS handshake */
  tlsHandshakeTimeoutMs: number;
  /** time from a request's first byte (for a connection's first request: from the handshake) to its headers */
  headersTimeoutMs: number;
  /** time from a request's first byte to its last body byte */
  requestTimeoutMs: number;
  /** how long a kept-alive connection may wait for its next request (before the first: headersTimeoutMs) */
  idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxConnections: 512,
  maxBufferedBytes: 32 * 1024 * 1024,
  tlsHandshakeTimeoutMs: 5_000,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 120_000,
};

export interface HandlerOptions {
  log?: Logger;
  metrics?: WebhookMetrics;
  /** bodies buffered at once; default DEFAULT_LIMITS.maxBufferedBytes */
  budget?: BodyBudget;
}

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The POST /mutate handler as a plain Node request listener (express passes its own req/res, which are
 * the same objects): content type, size cap, one JSON.parse, parseReview, decide, one JSON write.
 */
export function createMutateHandler(defaults: DecideConfig, opts: HandlerOptions = {}): NodeHandler {
  const log = opts.log ?? createLogger('webhook');
  const metrics = opts.metrics ?? createWebhookMetrics({ defaultMetrics: false });
  // The line logged for every decision carries only the scalar fields built in answer(), so the
  // logger's wildcard redaction ('*.token', '*.authorization') can never match it, yet it cost a fifth
  // of the webhook's throughput (bench/variants.ts). Top-level paths keep the guard for a field added here.
  const decisionLog = log.child({}, { redact: { paths: ['token', 'authorization'], censor: '[redacted]' } });
  const budget = opts.budget ?? createBodyBudget(DEFAULT_LIMITS.maxBufferedBytes);
  const warnShed = shedWarner(log, budget);

  return function mutate(req, res) {
    const started = process.hrtime.bigint();
    metrics.inFlight.inc();
    res.once('close', () => {
      metrics.inFlight.dec();
      const code = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.duration.observe({ code }, Number(process.hrtime.bigint() - started) / 1e9);
    });

    if (!isJson(req.headers['content-type'])) {
      req.resume();
      return sendError(res, metrics, 415, 'content-type must be application/json');
    }
    const header = req.headers['content-length'];
    const declared = header === undefined ? undefined : Number(header);
    if (declared !== undefined && declared > MAX_BODY_BYTES) {
      return refuseBody(req, res, metrics, 413, `body exceeds ${MAX_BODY_BYTES} bytes`, 0);
    }
    // Reserve the announced length before reading any of it; a chunked body reserves as it arrives.
    const reservation = budget.reserve(declared ?? 0);
    if (!reservation) return shed(req, res, metrics, warnShed, 0);
    const release = () => {
      reservation.release();
      metrics.bufferedBytes.set(budget.used);
    };
    metrics.bufferedBytes.set(budget.used);
    res.once('close', release);

    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        refused = true;
        chunks.length = 0;
        release();
        refuseBody(req, res, metrics, 413, `body exceeds ${MAX_BODY_BYTES} bytes`, size);
        return;
      }
      // within an announced length this holds; a chunked body grows its reservation here
      if (!reservation.grow(size)) {
        refused = true;
        chunks.length = 0;
        release();
        shed(req, res, metrics, warnShed, size);
        return;
      }
      metrics.bufferedBytes.set(budget.used);
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (refused) return;
      answer(Buffer.concat(chunks, size), res, defaults, log, decisionLog, metrics);
      release();
    });
    // A client that resets mid-body: nothing to answer; 'close' on res settles the metrics.
    req.once('error', () => {});
  };
}

function answer(body: Buffer, res: ServerResponse, defaults: DecideConfig, log: Logger, decisionLog: Logger, metrics: WebhookMetrics): void {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return sendError(res, metrics, 400, `body is not valid JSON: ${(e as Error).message}`);
  }
  let review;
  try {
    review = parseReview(json);
  } catch (e) {
    if (e instanceof ReviewError) return sendError(res, metrics, 400, `not an AdmissionReview: ${e.message}`);
    // parseReview only reads the untrusted body, so whatever else it throws is still the body's doing
    // (found by fuzzing: a RangeError while quoting a 20,000-deep array sent as apiVersion): 400, not 500.
    log.warn({ err: (e as Error).message }, 'parseReview failed unexpectedly; answered 400');
    return sendError(res, metrics, 400, `not an AdmissionReview: unreadable (${(e as Error).message})`);
  }
  let decision;
  try {
    decision = decide(review, defaults);
  } catch (e) {
    log.error({ err: (e as Error).message, uid: review.request.uid }, 'decide failed unexpectedly');
    return sendError(res, metrics, 500, 'internal error while deciding');
  }
  const out = JSON.stringify(decision.review);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
  res.end(out);

  const kind = metrics.kindLabel(decision.kind);
  metrics.decisions.inc({ rule: decision.rule, kind });
  if (decision.patched) metrics.patched.inc({ kind });
  if (decision.warnings > 0) metrics.warnings.inc({ rule: decision.rule }, decision.warnings);
  const fields = {
    uid: decision.uid,
    kind: decision.kind,
    namespace: decision.namespace,
    name: decision.name,
    operation: review.request.operation,
    rule: decision.rule,
    patched: decision.patched,
    warnings: decision.warnings,
    dryRun: review.request.dryRun === true,
  };
  if (decision.rule.startsWith('pass-through')) decisionLog.debug(fields, 'admission passed through');
  else if (decision.rule === 'invalid-policy') decisionLog.warn(fields, 'admission allowed with an invalid policy warning');
  else decisionLog.info(fields, 'admission decided');
}

/**
 * 503 when the body budget is full. The apiserver counts it as a failed call and, under failurePolicy
 * Ignore, admits the object unmutated: hence the metric (kube_latch_webhook_shed_total) and the log line.
 */
function shed(req: IncomingMessage, res: ServerResponse, metrics: WebhookMetrics, warn: () => void, seen: number): void {
  metrics.shed.inc({ reason: 'body-budget' });
  warn();
  refuseBody(req, res, metrics, 503, 'too many request bodies buffered at once; retry', seen, { 'retry-after': '1' });
}

/** One warning per 10 s at most while shedding, with the count since the last one: a flood must not flood the log. */
function shedWarner(log: Logger, budget: BodyBudget): () => void {
  let last = 0;
  let since = 0;
  return () => {
    since++;
    const now = Date.now();
    if (now - last < 10_000) return;
    log.warn({ shed: since, bufferedBytes: budget.used, limitBytes: budget.limit }, 'body budget full: answering 503 (the apiserver admits unmutated under failurePolicy Ignore)');
    last = now;
    since = 0;
  };
}

function refuseBody(req: IncomingMessage, res: ServerResponse, metrics: WebhookMetrics, code: number, message: string, seen: number, headers: Record<string, string> = {}): void {
  // Answer now, then drain what the client is still sending without keeping it; the connection is not
  // reused. A client that goes on past the discard limit is cut off; one that stalls meets the request
  // timeout.
  res.shouldKeepAlive = false;
  sendError(res, metrics, code, message, headers);
  let discarded = seen;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) req.socket.destroy();
  });
  req.resume();
}

/** `/mutate` exactly, with or without a query string. */
function isMutateUrl(url: string | undefined): boolean {
  return url === MUTATE_PATH || (url !== undefined && url.startsWith(`${MUTATE_PATH}?`));
}

/** application/json or any +json media type, parameters (charset) ignored. */
function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const type = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** A one-line JSON error body: {"error": "..."}; the message is flattened and capped. */
function sendError(res: ServerResponse, metrics: WebhookMetrics | undefined, code: number, message: string, headers: Record<string, string> = {}): void {
  metrics?.rejected.inc({ code: String(code) });
  if (res.headersSent) return;
  const body = JSON.stringify({ error: message.replace(/\s+/g, ' ').slice(0, 300) }) + '\n';
  res.writeHead(code, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The express app: POST /mutate, 405 for other methods there, 404 elsewhere, one-line JSON errors.
 * Routing is exact (case-sensitive, no trailing slash): `/Mutate` and `/mutate/` are 404, so no path
 * reaches a handler but the one. `mutate` is the server's one handler (and so its one body budget and
 * gauge); without it the app makes its own.
 */
export function createWebhookApp(defaults: DecideConfig, opts: HandlerOptions & { metrics: WebhookMetrics; log: Logger; mutate?: NodeHandler }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.post(MUTATE_PATH, opts.mutate ?? createMutateHandler(defaults, opts));
  app.all(MUTATE_PATH, (req, res) => {
    req.resume();
    sendError(res, opts.metrics, 405, `method ${req.method} not allowed on ${MUTATE_PATH}; use POST`, { allow: 'POST' });
  });
  app.use((req, res) => {
    req.resume();
    sendError(res, opts.metrics, 404, `no route for ${req.method} ${req.path}`);
  });
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    const status = typeof err?.status === 'number' && err.status >= 400 && err.status < 600 ? err.status : 500;
    if (status >= 500) opts.log.error({ err: String(err?.message ?? err) }, 'request failed');
    sendError(res, opts.metrics, status, status >= 500 ? 'internal error' : String(err?.message ?? 'bad request'));
  };
  app.use(onError);
  return app;
}

export interface WebhookOptions {
  /** HTTPS port for /mutate; 0 picks a free one */
  port: number;
  /** plain-HTTP port for /healthz, /readyz, /metrics; 0 picks a free one */
  metricsPort: number;
  /** default 0.0.0.0 */
  bindAddress?: string;
  /** the serving certificate; startWebhook owns it from here on and closes it on close() */
  tls: TlsSource;
  /** policy defaults that a workload's annotations override */
  defaults?: DecideConfig;
  log?: Logger;
  /** how long close() lets in-flight requests finish before cutting connections (default 20 s) */
  shutdownGraceMs?: number;
  /** process metrics on /metrics (default true) */
  defaultMetrics?: boolean;
  /** connection, buffer and timeout limits; each unset one is DEFAULT_LIMITS' */
  limits?: Partial<ServerLimits>;
}

export interface WebhookHandle {
  port: number;
  metricsPort: number;
  metrics: WebhookMetrics;
  /** TLS loaded, HTTPS listening and not shutting down: what /readyz reports */
  ready(): boolean;
  /** Stops accepting, lets in-flight requests finish, then closes both listeners. Idempotent. */
  close(): Promise<void>;
}

/** Starts both listeners; resolves once they accept connections. */
export async function startWebhook(opts: WebhookOptions): Promise<WebhookHandle> {
  const log = opts.log ?? createLogger('webhook');
  const host = opts.bindAddress ?? '0.0.0.0';
  const metrics = createWebhookMetrics({ defaultMetrics: opts.defaultMetrics ?? true, tls: opts.tls });
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const budget = createBodyBudget(limits.maxBufferedBytes);
  // One handler, one budget, one writer of the buffered-bytes gauge, whichever way a request arrives.
  const mutate = createMutateHandler(opts.defaults ?? {}, { log, metrics, budget });
  const app = createWebhookApp(opts.defaults ?? {}, { log, metrics, mutate });
  // The apiserver's POST /mutate (it appends ?timeout=5s) skips express: its router, per-request
  // prototype swap and lazy query parsing cost about as much as the decision itself. Every other
  // request goes through the app, whose exact routing answers anything but /mutate with 404 or 405.
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST' || !isMutateUrl(req.url)) return void app(req, res);
    try {
      mutate(req, res);
    } catch (e) {
      // what express's error handler did for this path: never let a request take the process down
      log.error({ err: (e as Error).message }, 'request failed');
      req.resume();
      sendError(res, metrics, 500, 'internal error');
    }
  };

  const contextOptions = (m: TlsMaterial) => ({ cert: m.cert, key: m.key, minVersion: MIN_TLS_VERSION }) as const;
  const https: HttpsServer = createHttpsServer(
    {
      ...contextOptions(opts.tls.current()),
      handshakeTimeout: limits.tlsHandshakeTimeoutMs,
      // The apiserver keeps connections to webhooks for up to 90 s idle; outlasting that means the client,
      // not us, closes an idle connection, so a POST never races a server-side close.
      keepAliveTimeout: limits.idleTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // node checks both timeouts on this tick (30 s by default, far longer than the timeouts themselves)
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
    },
    listener,
  );
  https.maxConnections = limits.maxConnections;
  https.on('drop', () => metrics.shed.inc({ reason: 'max-connections' }));
  https.on('connection', (s: Socket) => {
    metrics.openConnections.inc();
    s.once('close', () => metrics.openConnections.dec());
  });
  https.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.shed.inc({ reason: 'handshake-timeout' });
    log.debug({ err: err.message }, 'TLS handshake failed');
  });
  https.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, metrics));
  // Connections that finished a handshake but never sent a request are not "idle" to node's http layer,
  // so closeIdleConnections() leaves them and shutdown would wait for their timeout (the apiserver dials
  // ahead like this). Track them, to close them on shutdown. (node closes one that sends nothing within
  // the headers timeout, counted from the handshake: a 408 to the client, request-timeout here.)
  const unused = new Set<Socket>();
  https.on('secureConnection', (s: Socket) => {
    unused.add(s);
    s.once('close', () => unused.delete(s));
  });
  https.on('request', (req: IncomingMessage) => unused.delete(req.socket));
  const unsubscribe = opts.tls.onChange((m) => https.setSecureContext(contextOptions(m)));

  let closing = false;
  let httpsUp = false;
  const ready = () => httpsUp && !closing;
  const health = createHttpServer((req, res) => serveHealth(req, res, ready, metrics));

  try {
    await listen(https, opts.port, host);
    httpsUp = true;
    await listen(health, opts.metricsPort, host);
  } catch (e) {
    unsubscribe();
    https.close();
    health.close();
    await opts.tls.close();
    throw e;
  }
  const port = (https.address() as AddressInfo).port;
  const metricsPort = (health.address() as AddressInfo).port;
  log.info({ port, metricsPort, bindAddress: host, path: MUTATE_PATH }, 'webhook listening');

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const grace = opts.shutdownGraceMs ?? 20_000;
      const drained = new Promise<void>((resolve) => https.close(() => resolve()));
      // Keep-alive connections (the apiserver's) outlive their requests: answer what is in flight with
      // `Connection: close`, and close each connection as soon as it falls idle.
      https.on('request', (_req: IncomingMessage, res: ServerResponse) => {
        res.shouldKeepAlive = false;
      });
      const closeIdle = () => {
        https.closeIdleConnections();
        for (const s of unused) s.destroy();
      };
      closeIdle();
      const sweep = setInterval(closeIdle, 50);
      const cut = setTimeout(() => {
        log.warn({ graceMs: grace }, 'in-flight requests did not finish in time; closing their connections');
        https.closeAllConnections();
      }, grace);
      cut.unref();
      await drained;
      clearInterval(sweep);
      clearTimeout(cut);
      httpsUp = false;
      unsubscribe();
      await new Promise<void>((resolve) => {
        health.close(() => resolve());
        health.closeAllConnections();
      });
      await opts.tls.close();
      log.info('webhook stopped');
    })();
    return closed;
  };

  return { port, metricsPort, metrics, ready, close };
}

const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const HEADERS_TOO_LARGE_RESPONSE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const BAD_REQUEST_RESPONSE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * node's own answer to a request it cannot parse or that ran out of time (headers or request timeout),
 * plus the count: a listener on 'clientError' replaces node's default, so this writes the same responses.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, metrics: WebhookMetrics): void {
  const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  if (timedOut) metrics.shed.inc({ reason: 'request-timeout' });
  // node's default writes nothing once a response has started on this socket (it would corrupt it)
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const code = timedOut ? '408' : err.code === 'HPE_HEADER_OVERFLOW' ? '431' : '400';
    metrics.rejected.inc({ code });
    socket.write(timedOut ? REQUEST_TIMEOUT_RESPONSE : code === '431' ? HEADERS_TOO_LARGE_RESPONSE : BAD_REQUEST_RESPONSE);
  }
  socket.destroy(err);
}

function serveHealth(req: IncomingMessage, res: ServerResponse, ready: () => boolean, metrics: WebhookMetrics): void {
  req.resume();
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, undefined, 405, `method ${req.method} not allowed; use GET`, { allow: 'GET, HEAD' });
  }
  const text = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
    res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  switch (path) {
    case '/healthz':
      return text(200, 'ok\n');
    case '/readyz':
      return ready() ? text(200, 'ok\n') : text(503, 'not ready\n');
    case '/metrics':
      metrics.registry.metrics().then(
        (body) => text(200, body, metrics.registry.contentType),
        (err: Error) => text(500, `cannot collect metrics: ${err.message.split('\n')[0]}\n`),
      );
      return;
    default:
      return sendError(res, undefined, 404, `no route for ${req.method} ${path}`);
  }
}

function listen(server: HttpServer | HttpsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
