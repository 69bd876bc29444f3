// A smart-HTTP git server on loopback: `git http-backend` behind node:http, serving every bare repository
// under ROOT, fetch and push, no auth (loopback only). Run detached by the flux extra:
//   node git-http-daemon.ts ROOT PORT
// SIGSTOP/SIGCONT or stopping the process is how tests take "the git server" down.
import { createServer } from 'node:http';
import { serveGitBackend } from './git-cgi.ts';

const [root, portText] = process.argv.slice(2);
const port = Number(portText);
if (!root || !Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: git-http-daemon.ts ROOT PORT\n');
  process.exit(2);
}

// http-backend refuses receive-pack (push) without an authenticated user: every request is user `git`.
const server = createServer((req, res) => serveGitBackend(req, res, { projectRoot: root, remoteUser: 'git', stderr: 'inherit' }));
server.listen(port, '127.0.0.1', () => process.stdout.write(`git http-backend serving ${root} on http://127.0.0.1:${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
