// `kube-latch watcher` end to end: the real CLI as a child process, a real dev cluster, and a real bare
// git remote (file://) holding the manifests. Short settle (--settle-up 2 --settle-down 5
// --batch-window 1) so that DESIGN §4's rules can be watched in seconds. Each test has its own
// namespace, remote, Lease and watchers.
//
// Figures are printed as `# ...` lines: band exit → pushed commit, downward latch, leader takeover.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commits, createRemote, head, show, type Remote } from '../../src/demo/git.ts';
import { startWatcherChild, type WatcherChild } from '../../src/demo/watcher.ts';
import { startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';

const SETTLE_UP = 2;
const SETTLE_DOWN = 5;
const BATCH_WINDOW = 1;
/** "a few seconds" on top of settle + batch window: a fetch, a commit and a push on a busy 2-core box */
const SLACK = 10;
const LEASE_DURATION = 15;
const LEASE_RETRY = 2;

let c: TestCluster;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-e2e-watcher-'));
const running = new Set<WatcherChild>();

before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  await Promise.all([...running].map((w) => w.stop('SIGKILL')));
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Workload {
  name: string;
  replicas: number;
  /** no ReplicaSets and pods: the watcher only looks at spec.replicas */
  paused?: boolean;
  /** set metadata.namespace in the manifest */
  namespace?: string;
}

/** A Deployment manifest as a repo would hold it: comments, a flow map, the opt-in label. */
function manifest(w: Workload): string {
  return `# ${w.name}: managed by GitOps
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${w.name}
${w.namespace ? `  namespace: ${w.namespace}\n` : ''}  labels:
    app: ${w.name}
    kube-latch.io/enabled: "true"
spec:
${w.paused ? '  paused: true\n' : ''}  replicas: ${w.replicas}   # latch point
  selector:
    matchLabels: {app: ${w.name}}
  template:
    metadata:
      labels: {app: ${w.name}}
    spec:
      containers:
        - name: app
          image: example.invalid/${w.name}:1
`;
}

interface Setup {
  ns: string;
  remote: Remote;
  dir: string;
}

/** A namespace, and a bare remote seeded with files (a function of the namespace name). */
async function setup(prefix: string, files: (ns: string) => Record<string, string>): Promise<Setup> {
  const ns = await c.namespace(prefix);
  const dir = mkdtempSync(join(tmp, `${prefix}-`));
  const remote = await createRemote(join(dir, 'remote.git'), files(ns));
  return { ns, remote, dir };
}

async function teardown(s: Setup, ...watchers: WatcherChild[]): Promise<void> {
  for (const w of watchers) {
    await w.stop('SIGTERM');
    running.delete(w);
  }
  // Leftover opted-in workloads would show up in later tests' watchers as unlocated.
  await c.kubectl(['delete', 'namespace', s.ns, '--wait=false']);
}

async function watcher(s: Setup, name: string, extra: string[] = [], workDir = join(s.dir, `work-${name}`)): Promise<WatcherChild> {
  const w = await startWatcherChild(
    [
      '--kubeconfig', c.kubeconfig,
      '--repo', s.remote.url,
      '--work-dir', workDir,
      '--settle-up', String(SETTLE_UP),
      '--settle-down', String(SETTLE_DOWN),
      '--batch-window', String(BATCH_WINDOW),
      '--lease-namespace', s.ns,
      '--author', `${name} <${name}@example.invalid>`,
      ...extra,
    ],
    { name, logFile: join(c.dir, 'logs', `watcher-${s.ns}-${name}.log`) },
  );
  running.add(w);
  await w.ready();
  return w;
}

async function replicas(ns: string, name: string): Promise<number> {
  return (await c.getJson(['deployment', name, '-n', ns])).spec.replicas;
}

/** kubectl scale: the /scale subresource, as an HPA writes. Returns the time it returned. */
async function scale(ns: string, name: string, n: number): Promise<number> {
  await c.kubectl(['scale', `deployment/${name}`, `--replicas=${n}`, '-n', ns]);
  return Date.now();
}

/** Polls the remote until its branch moves past `from`; returns when it saw the move. */
async function nextCommit(remote: Remote, from: string, timeoutSeconds: number): Promise<{ sha: string; at: number }> {
  return waitFor(
    `a commit on ${remote.branch} after ${from.slice(0, 7)}`,
    async () => {
      const h = await head(remote);
      return h !== from ? { sha: h, at: Date.now() } : undefined;
    },
    { timeoutMs: timeoutSeconds * 1000, intervalMs: 50 },
  );
}

async function events(ns: string, name: string): Promise<Array<{ type: string; reason: string; message: string; count?: number; source?: { component?: string } }>> {
  const list = await c.getJson(['events', '-n', ns, '--field-selector', `involvedObject.name=${name}`]);
  return list.items;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a move out of band through /scale is pushed within settle-up + batch-window + a few seconds; a move inside the band is not', async () => {
  const s = await setup('band', (ns) => ({ 'apps/web.yaml': manifest({ name: 'web', replicas: 4, namespace: ns }) }));
  await c.apply(await show(s.remote, 'apps/web.yaml'), { serverSide: true, fieldManager: 'kustomize-controller' });
  const w = await watcher(s, 'watcher');
  const seed = await head(s.remote);

  // Inside band(4) = 2-8: nothing, however long it stays.
  await scale(s.ns, 'web', 7);
  await sleep((SETTLE_UP + BATCH_WINDOW + 4) * 1000);
  assert.equal(await head(s.remote), seed, 'no commit for a move inside the band');
  assert.equal(await w.metric('kube_latch_watcher_pending_latches'), 0);

  // Out of band, three times: 4 → (9) 10 → (25) 20 → (60) 50.
  const moves = [
    { live: 9, from: 4, to: 10, band: '2-8' },
    { live: 25, from: 10, to: 20, band: '5-20' },
    { live: 60, from: 20, to: 50, band: '10-40' },
  ];
  const seconds: number[] = [];
  let tip = seed;
  for (const m of moves) {
    const exited = await scale(s.ns, 'web', m.live);
    const commit = await nextCommit(s.remote, tip, SETTLE_UP + BATCH_WINDOW + SLACK);
    const elapsed = (commit.at - exited) / 1000;
    seconds.push(elapsed);
    tip = commit.sha;
    const [last] = await commits(s.remote, 1);
    assert.equal(last!.subject, `kube-latch: ${s.ns}/Deployment/web replicas ${m.from} → ${m.to}`);
    // the description line, then the trailer that tells a restarted watcher this latch is its own
    const [described, trailers] = last!.body.split('\n\n');
    assert.equal(described, `${s.ns}/Deployment/web: live ${m.live}, old band ${m.band}, new ${m.to} (was ${m.from}) at apps/web.yaml:11`);
    assert.match(trailers ?? '', new RegExp(`^Kube-Latch-Change: \\{"t":"replicas","ns":"${s.ns}","kind":"Deployment","name":"web","value":${m.to}[,}]`));
    assert.equal(`${last!.author} <${last!.email}>`, 'watcher <watcher@example.invalid>');
    assert.equal(await show(s.remote, 'apps/web.yaml'), manifest({ name: 'web', replicas: m.to, namespace: s.ns }), 'only the number changed');
    // Settle is a lower bound too: the latch never lands before the live count has held for settle-up.
    assert.ok(elapsed >= SETTLE_UP, `pushed ${elapsed.toFixed(2)} s after the band exit, before settle-up ${SETTLE_UP} s`);
  }
  assert.equal((await commits(s.remote)).length, 1 + moves.length, 'one commit per band exit');
  assert.equal(await replicas(s.ns, 'web'), 60, 'the watcher never touches the live count');
  await waitFor('every latch counted', async () => (await w.metric('kube_latch_watcher_latches_total', { direction: 'up' })) === moves.length, { timeoutMs: 5_000 });
  assert.ok((await w.metric('kube_latch_watcher_last_push_timestamp_seconds'))! > Date.now() / 1000 - 60);
  const written = (await events(s.ns, 'web')).filter((e) => e.reason === 'LatchWritten');
  assert.ok(written.some((e) => e.type === 'Normal' && e.message.startsWith(`kube-latch: git replicas 20 → 50 (live 60, band 10-40) in ${tip}`)), JSON.stringify(written));
  process.stdout.write(`# band exit → pushed commit (settle-up ${SETTLE_UP} s, batch window ${BATCH_WINDOW} s): ${seconds.map((x) => x.toFixed(2)).join(' s, ')} s\n`);
  await teardown(s, w);
});

test('a downward move latches to the recent peak, after settle-down', async () => {
  const s = await setup('down', (ns) => ({ 'apps/api.yaml': manifest({ name: 'api', replicas: 50, namespace: ns, paused: true }) }));
  await c.apply(await show(s.remote, 'apps/api.yaml'), { serverSide: true, fieldManager: 'kustomize-controller' });
  const w = await watcher(s, 'watcher');
  const seed = await head(s.remote);

  // band(50) = 25-100. Below it at 12, a short peak at 20, then 12 again: the peak latches (20), not 12 (→ 10).
  const exited = await scale(s.ns, 'api', 12);
  await sleep(1500);
  await scale(s.ns, 'api', 20);
  await sleep(1500);
  await scale(s.ns, 'api', 12);
  const commit = await nextCommit(s.remote, seed, SETTLE_DOWN + BATCH_WINDOW + SLACK);
  const elapsed = (commit.at - exited) / 1000;
  const [last] = await commits(s.remote, 1);
  assert.equal(last!.subject, `kube-latch: ${s.ns}/Deployment/api replicas 50 → 20`);
  assert.match(last!.body, /live 12, old band 25-100, new 20 \(was 50\)/);
  assert.ok(elapsed >= SETTLE_DOWN, `a downward latch ${elapsed.toFixed(2)} s after the exit, before settle-down ${SETTLE_DOWN} s`);
  // The commit reaches the remote a moment before the watcher counts it.
  await waitFor('the downward latch counted', async () => (await w.metric('kube_latch_watcher_latches_total', { direction: 'down' })) === 1, { timeoutMs: 5_000 });

  // 12 lies in band(20) = 10-40: nothing more.
  await sleep((SETTLE_DOWN + BATCH_WINDOW + 3) * 1000);
  assert.equal((await commits(s.remote)).length, 2);
  process.stdout.write(`# band exit downwards → pushed commit (settle-down ${SETTLE_DOWN} s): ${elapsed.toFixed(2)} s\n`);
  await teardown(s, w);
});

test('two watchers on one Lease: only the leader writes; after SIGKILL the other takes over within the lease duration and latches', async () => {
  const s = await setup('leader', (ns) => ({ 'apps/web.yaml': manifest({ name: 'web', replicas: 4, namespace: ns, paused: true }) }));
  await c.apply(await show(s.remote, 'apps/web.yaml'), { serverSide: true, fieldManager: 'kustomize-controller' });
  const a = await watcher(s, 'watcher-a');
  await waitFor('watcher-a to lead', () => a.isLeader(), { timeoutMs: 20_000 });
  const b = await watcher(s, 'watcher-b');
  await sleep(LEASE_RETRY * 1000 + 500);
  assert.equal(await b.isLeader(), false, 'one leader');
  const lease = await c.getJson(['lease', 'kube-latch-watcher', '-n', s.ns]);
  assert.match(lease.spec.holderIdentity, /_[0-9a-f]{8}$/);
  const seed = await head(s.remote);

  // Both see the band exit; only the leader writes.
  const exited = await scale(s.ns, 'web', 9);
  const first = await nextCommit(s.remote, seed, SETTLE_UP + BATCH_WINDOW + SLACK);
  await sleep((BATCH_WINDOW + 3) * 1000);
  let log = await commits(s.remote);
  assert.equal(log.length, 2, 'exactly one latch commit');
  assert.equal(log[0]!.author, 'watcher-a');
  assert.equal(log[0]!.subject, `kube-latch: ${s.ns}/Deployment/web replicas 4 → 10`);
  assert.ok(!b.logs().some((l) => l.msg === 'latches written to git'), 'the follower wrote nothing');
  assert.ok(a.logs().some((l) => l.msg === 'latches written to git'));
  assert.equal(await b.metric('kube_latch_watcher_latches_total', { direction: 'up' }), 0);
  process.stdout.write(`# with two watchers: band exit → leader's commit ${((first.at - exited) / 1000).toFixed(2)} s\n`);

  // The leader dies without releasing the Lease; a band exit happens while nobody leads.
  await a.stop('SIGKILL');
  running.delete(a);
  const killed = Date.now();
  await scale(s.ns, 'web', 25);
  await waitFor('watcher-b to lead', () => b.isLeader(), { timeoutMs: (LEASE_DURATION + 2 * LEASE_RETRY + 5) * 1000, intervalMs: 100 });
  const takeover = (Date.now() - killed) / 1000;
  const second = await nextCommit(s.remote, first.sha, LEASE_DURATION + 2 * LEASE_RETRY + BATCH_WINDOW + SLACK);
  const landed = (second.at - killed) / 1000;
  log = await commits(s.remote);
  assert.equal(log.length, 3, 'the new leader wrote the pending latch once, and did not redo the first');
  assert.equal(log[0]!.author, 'watcher-b');
  assert.equal(log[0]!.subject, `kube-latch: ${s.ns}/Deployment/web replicas 10 → 20`);
  assert.ok(takeover <= LEASE_DURATION + 2 * LEASE_RETRY + 1, `takeover after ${takeover.toFixed(1)} s (lease ${LEASE_DURATION} s, retry ${LEASE_RETRY} s)`);
  const after = await c.getJson(['lease', 'kube-latch-watcher', '-n', s.ns]);
  assert.notEqual(after.spec.holderIdentity, lease.spec.holderIdentity);
  assert.equal(after.spec.leaseTransitions, (lease.spec.leaseTransitions ?? 0) + 1);
  process.stdout.write(`# leader SIGKILLed: takeover after ${takeover.toFixed(1)} s, its latch pushed ${landed.toFixed(1)} s after the kill\n`);
  await teardown(s, b);
});

test('SIGTERM exits 0 and releases the Lease; a restart (same or fresh work dir) commits nothing new', async () => {
  const s = await setup('restart', (ns) => ({ 'apps/web.yaml': manifest({ name: 'web', replicas: 4, namespace: ns, paused: true }) }));
  await c.apply(await show(s.remote, 'apps/web.yaml'), { serverSide: true, fieldManager: 'kustomize-controller' });
  const workDir = join(s.dir, 'work');
  let w = await watcher(s, 'watcher', [], workDir);
  const seed = await head(s.remote);
  await scale(s.ns, 'web', 9);
  const latched = await nextCommit(s.remote, seed, SETTLE_UP + BATCH_WINDOW + SLACK);

  const exit = await w.stop('SIGTERM');
  running.delete(w);
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(w.logs().some((l) => l.msg === 'released the lease'));
  assert.equal((await c.getJson(['lease', 'kube-latch-watcher', '-n', s.ns])).spec.holderIdentity ?? '', '', 'the Lease is free');

  for (const dir of [workDir, join(s.dir, 'fresh-work')]) {
    w = await watcher(s, 'watcher', [], dir);
    await waitFor('the restarted watcher to lead', () => w.isLeader(), { timeoutMs: 10_000 });
    await sleep((SETTLE_UP + BATCH_WINDOW + 4) * 1000);
    assert.equal(await head(s.remote), latched.sha, `no new commit after a restart with ${dir === workDir ? 'the same' : 'a fresh'} work dir`);
    assert.equal(await w.metric('kube_latch_watcher_pending_latches'), 0);
    assert.equal((await w.stop('SIGTERM')).code, 0);
    running.delete(w);
  }
  await teardown(s);
});

test('an ambiguous or unlocated workload gets a Warning Event naming the candidates, and no commit', async () => {
  const s = await setup('where', () => ({
    // A base and an overlay copy, neither setting a namespace: both match `amb` in any namespace.
    'base/amb.yaml': manifest({ name: 'amb', replicas: 4, paused: true }),
    'overlays/prod/amb.yaml': manifest({ name: 'amb', replicas: 4, paused: true }),
    'apps/other.yaml': manifest({ name: 'other', replicas: 4, namespace: 'elsewhere', paused: true }),
  }));
  const seed = await head(s.remote);
  await c.apply(manifest({ name: 'amb', replicas: 4, paused: true }), { namespace: s.ns, serverSide: true, fieldManager: 'kustomize-controller' });
  // `lost` has no manifest; `other` exists in git only in another namespace.
  await c.apply(manifest({ name: 'lost', replicas: 4, paused: true }), { namespace: s.ns, serverSide: true, fieldManager: 'kustomize-controller' });
  await c.apply(manifest({ name: 'other', replicas: 4, paused: true }), { namespace: s.ns, serverSide: true, fieldManager: 'kustomize-controller' });
  const w = await watcher(s, 'watcher');
  for (const name of ['amb', 'lost', 'other']) await scale(s.ns, name, 9);

  const amb = await waitFor('a LatchTargetAmbiguous Event on amb', async () => (await events(s.ns, 'amb')).find((e) => e.reason === 'LatchTargetAmbiguous'));
  assert.equal(amb.type, 'Warning');
  assert.match(amb.message, /base\/amb\.yaml:\d+/);
  assert.match(amb.message, /overlays\/prod\/amb\.yaml:\d+/);
  assert.ok(amb.message.length < 1024);
  for (const name of ['lost', 'other']) {
    const ev = await waitFor(`a LatchTargetNotFound Event on ${name}`, async () => (await events(s.ns, name)).find((e) => e.reason === 'LatchTargetNotFound'));
    assert.equal(ev.type, 'Warning');
    assert.ok(ev.message.includes(`${s.ns}/Deployment/${name}`), ev.message);
  }
  assert.equal(amb.source?.component, 'kube-latch-watcher');
  assert.ok(w.logs().some((l) => l.level === 40 && l['workload'] === `${s.ns}/Deployment/amb` && l['problem'] === 'ambiguous'));
  assert.equal(await w.metric('kube_latch_watcher_unlocated_workloads', { reason: 'ambiguous' }), 1);
  assert.ok((await w.metric('kube_latch_watcher_unlocated_workloads', { reason: 'none' }))! >= 2);

  await sleep((SETTLE_UP + BATCH_WINDOW + 4) * 1000);
  assert.equal(await head(s.remote), seed, 'nothing written for workloads git does not locate exactly once');
  assert.equal(await w.metric('kube_latch_watcher_latches_total', { direction: 'up' }), 0);
  await teardown(s, w);
});
