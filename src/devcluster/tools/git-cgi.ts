// One HTTP request answered by `git http-backend` (CGI): the request becomes its environment and stdin, its
// `Status:` and header lines become the response's, the rest streams through. Fetch and push (receive-pack
// needs an authenticated user: `remoteUser`). Used by the dev cluster's git server (git-http-daemon.ts)
// and the tests' HTTPS git server.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';

export function serveGitBackend(req: IncomingMessage, res: ServerResponse, o: { projectRoot: string; remoteUser: string; stderr?: 'inherit' | 'ignore' }): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: o.projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_USER: o.remoteUser,
      REMOTE_ADDR: '127.0.0.1',
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', o.stderr ?? 'ignore'],
  });
  req.pipe(child.stdin);
  let buf = Buffer.alloc(0);
  let body = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (body) return void res.write(chunk);
    buf = Buffer.concat([buf, chunk]);
    const crlf = buf.indexOf('\r\n\r\n');
    const lf = buf.indexOf('\n\n');
    const cut: [number, number] | undefined = crlf !== -1 ? [crlf, 4] : lf !== -1 ? [lf, 2] : undefined;
    if (!cut) return;
    body = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of buf.subarray(0, cut[0]).toString().split(/\r?\n/)) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
      else if (k) headers[k] = v;
    }
    res.writeHead(status, headers);
    res.write(buf.subarray(cut[0] + cut[1]));
  });
  child.on('close', () => res.end());
  child.on('error', () => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
}
