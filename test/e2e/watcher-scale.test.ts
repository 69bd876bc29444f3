// 1,000 simultaneous band exits → one commit. 1,000 small opted-in Deployments (paused, so the
// controller-manager makes no ReplicaSets or pods; the watcher only reads spec.replicas) are created by
// server-side apply in a few big multi-document applies, one manifest file each in a bare git remote.
// Then all of them are scaled out of band through /scale at once, as 1,000 HPAs could, and the real
// `kube-latch watcher` must push exactly one commit holding all 1,000.
//
// "At once" is as fast as the apiserver takes /scale writes: on a loaded 2-core machine about 50-100 a
// second, so the exits spread over 10-20 s. Latches that fall due within one batch window share a
// commit, so the test uses a 30 s window to cover that spread (and checks that it did); with the
// default 10 s window the same exits would make ceil(spread / 10 s) commits.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { commits, createRemote, git, head, show } from '../../src/demo/git.ts';
import { startWatcherChild, type WatcherChild } from '../../src/demo/watcher.ts';
import { startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';

const COUNT = 1000;
const DECLARED = 2; // band(2) = 1-4
const LIVE = 6; // latch(6) = 5 on 1-2-5
const LATCHED = 5;
const SETTLE_UP = 2;
const BATCH_WINDOW = 30;
const SCALE_CONCURRENCY = 8;

let c: TestCluster;
let w: WatcherChild | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-e2e-scale-'));

before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await w?.stop('SIGKILL');
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const name = (i: number) => `app-${String(i).padStart(4, '0')}`;

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
  replicas: ${DECLARED}
  selector:
    matchLabels: {app: ${name(i)}}
  template:
    metadata:
      labels: {app: ${name(i)}}
    spec:
      containers: [{name: app, image: example.invalid/app:1}]
`;
}

/** PUT /apis/apps/v1/namespaces/NS/deployments/NAME/scale with the kubeconfig's client certificate. */
async function scaleWriter(kubeconfig: string, sockets: number): Promise<{ put(ns: string, name: string, replicas: number): Promise<void>; close(): void }> {
  const kc = loadKubeConfig(kubeconfig);
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  await kc.applyToHTTPSOptions(tls);
  const server = new URL(kc.getCurrentCluster()!.server);
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) });
  return {
    put: (ns, name, replicas) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name, namespace: ns }, spec: { replicas } });
        const path = `/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`;
        const req = request(
          { agent, host: server.hostname, port: server.port, method: 'PUT', path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
          (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${path}: ${res.statusCode} ${text.slice(0, 200)}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** Runs fn over items with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

test('1,000 simultaneous band exits through /scale become one commit', async () => {
  const ns = await c.namespace('scale');
  const ids = Array.from({ length: COUNT }, (_, i) => i);
  const files: Record<string, string> = {};
  for (const i of ids) files[`apps/${name(i)}.yaml`] = manifest(i, ns);
  const remote = await createRemote(join(tmp, 'remote.git'), files);
  const seed = await head(remote);

  let t = Date.now();
  const chunks = [0, 1, 2, 3].map((k) => ids.filter((i) => i % 4 === k).map((i) => manifest(i, ns)).join('---\n'));
  await Promise.all(chunks.map((text) => c.apply(text, { serverSide: true, fieldManager: 'kustomize-controller', timeoutMs: 180_000 })));
  const applySeconds = (Date.now() - t) / 1000;
  const listed = await c.getJson(['deployments', '-n', ns, '-l', 'kube-latch.io/enabled=true']);
  assert.equal(listed.items.length, COUNT);

  t = Date.now();
  w = await startWatcherChild(
    [
      '--kubeconfig', c.kubeconfig,
      '--repo', remote.url,
      '--work-dir', join(tmp, 'work'),
      '--settle-up', String(SETTLE_UP),
      '--batch-window', String(BATCH_WINDOW),
      '--lease-namespace', ns,
    ],
    { logFile: join(c.dir, 'logs', `watcher-${ns}.log`) },
  );
  await w.ready(120_000);
  await waitFor('the watcher to lead', () => w!.isLeader(), { timeoutMs: 20_000 });
  const readySeconds = (Date.now() - t) / 1000;

  // PUT /scale, as an HPA writes it, over kept-alive connections (kubectl's client-side throttling
  // would take minutes for 1,000).
  const scaler = await scaleWriter(c.kubeconfig, SCALE_CONCURRENCY);
  const firstExit = Date.now();
  try {
    await pool(ids, SCALE_CONCURRENCY, (i) => scaler.put(ns, name(i), LIVE));
  } finally {
    scaler.close();
  }
  const lastExit = Date.now();
  const spread = (lastExit - firstExit) / 1000;
  // The premise of "simultaneous": every exit falls due within one batch window of the first.
  assert.ok(spread < BATCH_WINDOW - 2, `the 1,000 scales took ${spread.toFixed(1)} s, more than a batch window`);

  const pushed = await waitFor(
    'the latch commit',
    async () => {
      const h = await head(remote);
      return h !== seed ? Date.now() : undefined;
    },
    { timeoutMs: (SETTLE_UP + BATCH_WINDOW + 60) * 1000, intervalMs: 100 },
  );
  // Anything still to come would arrive within another settle + window.
  await new Promise((r) => setTimeout(r, (SETTLE_UP + BATCH_WINDOW + 5) * 1000));
  const log = await commits(remote);
  assert.equal(log.length, 2, `one latch commit for ${COUNT} band exits, got ${log.length - 1}: ${log.map((x) => x.subject).join(' | ')}`);
  const [latch] = log;
  assert.equal(latch!.subject, `kube-latch: ${COUNT} workloads relatched`);
  const bodyLines = latch!.body.split('\n').filter((l) => l.includes('/Deployment/'));
  assert.deepEqual(
    new Set(bodyLines),
    new Set(ids.map((i) => `${ns}/Deployment/${name(i)}: live ${LIVE}, old band 1-4, new ${LATCHED} (was ${DECLARED}) at apps/${name(i)}.yaml:11`)),
    'one body line per workload',
  );
  assert.equal(bodyLines.length, COUNT);
  const stat = (await git(remote.dir, ['diff', '--shortstat', seed, remote.branch])).trim();
  assert.equal(stat, `${COUNT} files changed, ${COUNT} insertions(+), ${COUNT} deletions(-)`);
  for (const i of [0, 499, 999]) assert.equal(await show(remote, `apps/${name(i)}.yaml`), manifest(i, ns).replace(`replicas: ${DECLARED}`, `replicas: ${LATCHED}`));
  assert.equal(await w.metric('kube_latch_watcher_latches_total', { direction: 'up' }), COUNT);
  assert.equal(await w.metric('kube_latch_watcher_pending_latches'), 0);

  const fromLast = (pushed - lastExit) / 1000;
  const fromFirst = (pushed - firstExit) / 1000;
  process.stdout.write(
    `# ${COUNT} Deployments: SSA in 4 parallel applies ${applySeconds.toFixed(1)} s; watcher ready (clone, index, list) ${readySeconds.toFixed(1)} s\n` +
      `# ${COUNT} band exits through /scale within ${spread.toFixed(1)} s → ${log.length - 1} commit, pushed ${fromFirst.toFixed(1)} s after the first exit ` +
      `(${fromLast.toFixed(1)} s after the last; settle-up ${SETTLE_UP} s + batch window ${BATCH_WINDOW} s)\n`,
  );
  const exit = await w.stop('SIGTERM');
  w = undefined;
  assert.equal(exit.code, 0);
});
