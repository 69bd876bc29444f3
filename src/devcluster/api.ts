// A few raw calls to the dev cluster's apiserver, authenticated with the admin client certificate.
// Enough to wait for readiness and create Nodes without loading a full Kubernetes client.
import { get as httpGet } from 'node:http';
import { request } from 'node:https';

export interface ApiCredentials {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

export function call(creds: ApiCredentials, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<ApiResponse> {
  const url = new URL(path, creds.server);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: creds.ca,
        cert: creds.cert,
        key: creds.key,
        timeout: timeoutMs,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** GET that resolves to the status code, or 0 when the server cannot be reached (yet). */
export async function probe(creds: ApiCredentials, path: string): Promise<number> {
  try {
    return (await call(creds, 'GET', path, undefined, 2000)).status;
  } catch {
    return 0;
  }
}

/** GET of a plain-http URL that resolves to whether it answered 200. */
export function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpGet(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
