// A smart-HTTP git server on loopback: `git http-backend` behind node:http, serving every bare repository
// under ROOT, fetch and push, no auth (loopback only). Run detached by the flux extra:
//   node git-http-daemon.ts ROOT PORT
// SIGSTOP/SIGCONT or stopping the process is how tests take "the git server" down.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

const [root, portText] = process.argv.slice(2);
const port = Number(portText);
if (!root || !Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: git-http-daemon.ts ROOT PORT\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      // http-backend refuses receive-pack (push) without an authenticated user
      REMOTE_USER: 'git',
      REMOTE_ADDR: '127.0.0.1',
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
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
    for (const line of buf.subarray(0, cut[0]).toString().split(/\r?\n/)) {
      const i = line.indexOf(':');
      const k = line.slice(0, i).trim();
      const v = line.slice(i + 1).trim();
      if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0]);
      else if (k) res.setHeader(k, v);
    }
    res.writeHead(status);
    res.write(buf.subarray(cut[0] + cut[1]));
  });
  child.on('close', () => res.end());
  child.on('error', () => {
    res.writeHead(500);
    res.end();
  });
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`git http-backend serving ${root} on http://127.0.0.1:${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
