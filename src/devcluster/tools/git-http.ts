// The smart-HTTP git server of a dev cluster (git-http-daemon.ts, detached): bare repositories under
// DIR/git, served on one loopback port as `endpoints.git`. Every extra that needs a git URL for its
// controllers (Flux's GitRepository, Argo CD's repository) asks for it here; the first one starts it.
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../processes.ts';
import type { ExtraContext } from './extras.ts';

/** Starts the server once per cluster; resolves to its origin, http://127.0.0.1:P. */
export async function ensureGitHttp(ctx: ExtraContext): Promise<string> {
  const running = ctx.endpoints['git'];
  if (running) return running;
  const root = join(ctx.dir, 'git');
  mkdirSync(root, { recursive: true });
  const port = await freePort();
  // The daemon's own extension: .ts from the source tree, .js from dist.
  const daemon = fileURLToPath(new URL(`./git-http-daemon${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
  ctx.launch('git-http', process.execPath, [daemon, root, String(port)]);
  await ctx.waitFor('git http-backend on loopback', () => tcpOpen(port));
  const origin = `http://127.0.0.1:${port}`;
  ctx.endpoints['git'] = origin;
  return origin;
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
