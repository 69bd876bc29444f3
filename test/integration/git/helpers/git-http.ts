// `git http-backend` behind a small local Node https server (CGI): every request must carry
// `Authorization: Basic base64(user:TOKEN)`, else 401. Records what it saw for assertions.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { TestTls } from './tls.ts';

export interface GitHttpServer {
  port: number;
  /** https://127.0.0.1:PORT */
  origin: string;
  /** Authorization headers received (for assertions that the token was sent only as a header) */
  readonly authHeaders: string[];
  readonly urls: string[];
  unauthorized: number;
  /** stops listening (a remote that is down); start() listens again on the same port */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startGitHttp(projectRoot: string, token: string, tls: TestTls, port = 0): Promise<GitHttpServer> {
  let server: Server | undefined;
  const state: GitHttpServer = {
    port,
    origin: '',
    authHeaders: [],
    urls: [],
    unauthorized: 0,
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
    },
    async start() {
      const s = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        const auth = req.headers.authorization ?? '';
        state.authHeaders.push(auth);
        state.urls.push(req.url ?? '');
        const m = /^Basic (.+)$/.exec(auth);
        const pair = m ? Buffer.from(m[1]!, 'base64').toString() : '';
        const user = pair.slice(0, pair.indexOf(':'));
        if (!m || pair.slice(pair.indexOf(':') + 1) !== token) {
          state.unauthorized++;
          res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
          res.end('unauthorized\n');
          return;
        }
        const url = new URL(req.url ?? '/', 'https://x');
        const child = spawn('git', ['http-backend'], {
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            GIT_PROJECT_ROOT: projectRoot,
            GIT_HTTP_EXPORT_ALL: '1',
            GATEWAY_INTERFACE: 'CGI/1.1',
            REQUEST_METHOD: req.method ?? 'GET',
            PATH_INFO: decodeURIComponent(url.pathname),
            QUERY_STRING: url.search.replace(/^\?/, ''),
            CONTENT_TYPE: req.headers['content-type'] ?? '',
            REMOTE_USER: user || 'token',
            REMOTE_ADDR: '127.0.0.1',
            ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
            ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
          },
          stdio: ['pipe', 'pipe', 'ignore'],
        });
        req.pipe(child.stdin);
        let buf = Buffer.alloc(0);
        let headersDone = false;
        child.stdout.on('data', (chunk: Buffer) => {
          if (headersDone) {
            res.write(chunk);
            return;
          }
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf('\r\n\r\n');
          const endLf = buf.indexOf('\n\n');
          const cut: [number, number] | null = end !== -1 ? [end, 4] : endLf !== -1 ? [endLf, 2] : null;
          if (!cut) return;
          headersDone = true;
          let status = 200;
          const headers: Record<string, string> = {};
          for (const line of buf.subarray(0, cut[0]).toString().split(/\r?\n/)) {
            const i = line.indexOf(':');
            const k = line.slice(0, i).trim();
            const v = line.slice(i + 1).trim();
            if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
            else headers[k] = v;
          }
          res.writeHead(status, headers);
          res.write(buf.subarray(cut[0] + cut[1]));
        });
        child.stdout.on('end', () => res.end());
        child.on('error', () => {
          res.writeHead(500);
          res.end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(state.port, '127.0.0.1', () => resolve());
      });
      const addr = s.address();
      state.port = typeof addr === 'object' && addr ? addr.port : state.port;
      state.origin = `https://127.0.0.1:${state.port}`;
      server = s;
    },
  };
  await state.start();
  return state;
}
