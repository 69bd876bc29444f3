// Watcher at scale on the dev cluster: N opted-in Deployments (default 10,000; paused, so no ReplicaSets
// or pods) and one manifest file each in a local bare git remote; then the real `kube-latch watcher` is
// started and timed until /readyz (git cloned and indexed, informers listed and synced) and until it
// leads, with its RSS sampled every 250 ms from start to 20 s after ready.
//
//   node bench/watcher-scale.ts [--count 10000] [--json FILE]
// KUBE_LATCH_E2E_DIR=DIR joins a running dev cluster instead of starting one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { writeFiles } from '../src/demo/git.ts';
import { startWatcherChild } from '../src/demo/watcher.ts';
import { startCluster, waitFor } from '../test/e2e/helpers/cluster.ts';
import { applierFor } from '../test/integration/faults/ssa.ts';
import { describeMachine, rssBytes } from './lib/proc.ts';
import { fmt, int } from './lib/stats.ts';

const name = (i: number) => `app-${String(i).padStart(5, '0')}`;

function manifest(i: number, ns: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name(i)}
  namespace: ${ns}
  labels:
    app: ${name(i)}
    kube-latch.io/enabled: "true"
spec:
  paused: true
  replicas: 2
  selector:
    matchLabels: {app: ${name(i)}}
  template:
    metadata:
      labels: {app: ${name(i)}}
    spec:
      containers: [{name: app, image: example.invalid/app:1}]
`;
}

function deployment(i: number, ns: string): { metadata: { name: string; namespace: string; labels: Record<string, string> } } & Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name(i), namespace: ns, labels: { app: name(i), 'kube-latch.io/enabled': 'true' } },
    spec: {
      paused: true,
      replicas: 2,
      selector: { matchLabels: { app: name(i) } },
      template: { metadata: { labels: { app: name(i) } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    },
  };
}

/**
 * A bare remote holding `files` in one commit. (src/demo/git.ts createRemote removes its seed clone while
 * git's detached auto-gc may still be writing into it after a 10,000-file commit: ENOTEMPTY. Here the
 * seed keeps gc off and stays inside the temp dir.)
 */
async function bareRemote(dir: string, files: Record<string, string>): Promise<{ url: string }> {
  const git = (cwd: string, args: string[]) =>
    execFileSync('git', ['-c', 'gc.auto=0', '-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', ...args], { cwd, stdio: 'pipe', maxBuffer: 64 << 20 });
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '-q', '--bare', '--initial-branch=main']);
  const seed = `${dir}.seed`;
  mkdirSync(seed, { recursive: true });
  git(seed, ['init', '-q', '--initial-branch=main']);
  await writeFiles(seed, files);
  git(seed, ['add', '-A']);
  git(seed, ['commit', '-q', '-m', 'Add the app manifests']);
  git(seed, ['push', '-q', dir, 'HEAD:refs/heads/main']);
  return { url: pathToFileURL(dir).href };
}

export interface WatcherScaleResult {
  machine: string;
  count: number;
  createSeconds: number;
  readySeconds: number;
  leaderSeconds: number;
  rssAtReadyMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
}

export async function runWatcherScale(o: { count: number; log?: (l: string) => void }): Promise<WatcherScaleResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-bench-watcher-'));
  const c = await startCluster({ nodes: 1 });
  const applier = applierFor(c.kubeconfig, { timeoutMs: 60_000 });
  try {
    log(`machine: ${describeMachine()}`);
    const ns = await c.namespace('scale');
    const ids = Array.from({ length: o.count }, (_, i) => i);
    const files: Record<string, string> = {};
    for (const i of ids) files[`apps/${name(i)}.yaml`] = manifest(i, ns);
    const remote = await bareRemote(join(tmp, 'remote.git'), files);

    let t = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < ids.length) {
          const i = ids[next++]!;
          const r = await applier.applyDeployment(deployment(i, ns), 'kustomize-controller');
          if (r.status >= 300) throw new Error(`apply ${name(i)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        }
      }),
    );
    const createSeconds = (Date.now() - t) / 1000;
    log(`${int(o.count)} Deployments created by server-side apply (16 in flight) in ${fmt(createSeconds, 1)} s; ${int(o.count)} manifests in the remote`);

    t = Date.now();
    const w = await startWatcherChild(['--kubeconfig', c.kubeconfig, '--repo', remote.url, '--work-dir', join(tmp, 'work'), '--lease-namespace', ns], {
      logFile: join(tmp, 'watcher.log'),
    });
    const rss: Array<{ t: number; mib: number }> = [];
    const sampler = setInterval(() => rss.push({ t: (Date.now() - t) / 1000, mib: rssBytes(w.pid) / 2 ** 20 }), 250);
    try {
      await w.ready(300_000);
      const readySeconds = (Date.now() - t) / 1000;
      const rssAtReadyMiB = rssBytes(w.pid) / 2 ** 20;
      await waitFor('the watcher to lead', () => w.isLeader(), { timeoutMs: 60_000, intervalMs: 100 });
      const leaderSeconds = (Date.now() - t) / 1000;
      await new Promise((r) => setTimeout(r, 20_000));
      const rssAfterMiB = rssBytes(w.pid) / 2 ** 20;
      clearInterval(sampler);
      const rssPeakMiB = Math.max(...rss.map((s) => s.mib).filter(Number.isFinite));
      log(
        `watcher: ready (clone, index of ${int(o.count)} manifests, informers synced) ${fmt(readySeconds, 1)} s after start, leading at ${fmt(leaderSeconds, 1)} s; ` +
          `RSS at ready ${fmt(rssAtReadyMiB, 1)} MiB, peak ${fmt(rssPeakMiB, 1)} MiB, 20 s later ${fmt(rssAfterMiB, 1)} MiB (targets: < 30 s, < 300 MiB)`,
      );
      return { machine: describeMachine(), count: o.count, createSeconds, readySeconds, leaderSeconds, rssAtReadyMiB, rssPeakMiB, rssAfterMiB };
    } finally {
      clearInterval(sampler);
      await w.stop('SIGTERM');
    }
  } finally {
    applier.close();
    await c.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '10000' }, json: { type: 'string' } } });
  const r = await runWatcherScale({ count: Number(values.count) });
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
}
