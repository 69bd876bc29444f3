// `git http-backend` behind a small local Node https server (CGI): every request must carry
// `Authorization: Basic base64(user:TOKEN)`, else 401. Records what it saw for assertions.
import { createServer, type Server } from 'node:https';
import { serveGitBackend } from '../../../../src/devcluster/tools/git-cgi.ts';
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
        serveGitBackend(req, res, { projectRoot, remoteUser: user || 'token' });
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
