// For suites that spawn the real CLI: an environment without the caller's kube-latch settings, and a plain
// HTTP GET of the health/metrics port.
import { request as httpRequest } from 'node:http';

/** process.env without KUBE_LATCH_* (and without `drop`), plus `extra`: a child sees only what its test sets. */
export function cleanEnv(extra: Record<string, string> = {}, drop: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KUBE_LATCH_') && !drop.includes(k)) env[k] = v;
  return { ...env, ...extra };
}

/** GET http://127.0.0.1:port/path on a fresh connection. */
export function getHttp(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
