// A small JSON-over-HTTPS client for the PR providers: TLS only, a timeout, bounded responses, and
// errors that are one line and never carry the token.
import { request } from 'node:https';
import { readToken } from '../auth.ts';

export interface ApiOptions {
  /** base URL including any path prefix, e.g. https://api.github.com or https://gitlab.example/api/v4 */
  readonly apiUrl: string;
  /** file with the API token, re-read on every call */
  readonly tokenFile: string;
  /** extra CA (PEM) for an API behind a private CA */
  readonly ca?: string | Buffer | undefined;
  readonly timeoutMs?: number | undefined;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface ApiResponse {
  readonly status: number;
  readonly json: unknown;
}

const MAX_BODY = 8 << 20;

export function checkApiUrl(apiUrl: string): URL {
  let u: URL;
  try {
    u = new URL(apiUrl);
  } catch {
    throw new ApiError(0, `--api-url "${apiUrl}" is not a URL`);
  }
  if (u.protocol !== 'https:') throw new ApiError(0, `--api-url must be https://, got ${u.protocol}//${u.host}`);
  if (u.username || u.password) throw new ApiError(0, '--api-url must not carry credentials; use --token-file');
  return u;
}

/** Sends one request; `auth(token)` gives the provider's auth headers. Non-2xx statuses are returned, not thrown. */
export async function callApi(
  o: ApiOptions,
  method: string,
  path: string,
  auth: (token: string) => Record<string, string>,
  body?: unknown,
): Promise<ApiResponse> {
  const base = checkApiUrl(o.apiUrl);
  const url = new URL(base.href.replace(/\/+$/, '') + path);
  const token = await readToken(o.tokenFile);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const scrub = (s: string) => s.split(token).join('[redacted]');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          accept: 'application/json',
          'user-agent': 'kube-latch',
          ...auth(token),
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
        ...(o.ca ? { ca: o.ca } : {}),
        timeout: o.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          size += b.length;
          if (size > MAX_BODY) req.destroy(new Error('response too large'));
          else chunks.push(b);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', (e) => reject(new ApiError(0, `${method} ${url.pathname}: ${scrub(e.message)}`)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new ApiError(0, `${method} ${url.host}${url.pathname}: ${scrub(e.message)}`)));
    req.end(payload);
  });
}

/** A one-line error for a non-2xx answer, using the provider's `message` / `error` field when present. */
export function apiError(what: string, r: ApiResponse): ApiError {
  const j = r.json as Record<string, unknown> | undefined;
  const raw = j && typeof j === 'object' ? (j['message'] ?? j['error'] ?? j['errors']) : undefined;
  const detail = typeof raw === 'string' ? raw : raw !== undefined ? JSON.stringify(raw) : '';
  const line = detail.split('\n')[0]!.slice(0, 200);
  return new ApiError(r.status, `${what}: HTTP ${r.status}${line ? `: ${line}` : ''}`);
}
