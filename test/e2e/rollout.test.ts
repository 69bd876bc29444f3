// Rollout milestones end to end (docs/rollout.md) on the dev cluster, where kwok turns scheduled pods
// Ready: a local bare git remote plays the GitOps repo, the test plays the GitOps tool (it applies the
// manifest as git holds it), and the latcher runs with a real Lease, real informers and src/git.
//
//   push mode: two rollouts that complete leave milestone commits ending at `complete`: with a 1 s batch
//              window one commit per milestone; with the default 10 s window, a slower rollout, milestones
//              batched; commits per rollout and the time from each milestone to its commit are printed;
//   pr mode:   a rollout whose new pods never turn Ready (a nodeSelector no kwok node matches) with a short
//              progressDeadlineSeconds latches `failed` into the cluster PR and opens the revert PR, on
//              its own branch, against the local GitHub API stub; the branch restores the template of the
//              last `complete` commit, changing only the restored values;
//   rebuild:   the Deployment re-created from git with the `failed` record gets the RolloutFailedBefore
//              Event, and the object as admitted is what rolloutWarning() (the webhook's addition) flags.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CoordinationV1Api, CoreV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { GitRepo } from '../../src/git/repo.ts';
import { GitHubPullRequests } from '../../src/git/pr/index.ts';
import { loadKubeConfig, statusOf, type KubeConfig } from '../../src/kube/client.ts';
import { kubeLeaseStore } from '../../src/kube/lease.ts';
import { LeaderElector } from '../../src/watcher/leader.ts';
import { rolloutGit, rolloutWarning, startLatcher, type RunningLatcher } from '../../src/rollout/index.ts';
import { startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';
import { git, log, makeRemote, otherWriterCommit, showFile } from '../integration/git/helpers/repos.ts';
import { startGitHubStub, type Stub } from '../integration/git/helpers/pr-stubs.ts';
import { makeTls } from '../integration/git/helpers/tls.ts';

// ROLLOUT_E2E_LOG=FILE keeps the latcher's and git's debug log (pino JSON) for a failing run.
const testLog = process.env['ROLLOUT_E2E_LOG'] ? pino({ level: 'debug' }, pino.destination(process.env['ROLLOUT_E2E_LOG'])) : pino({ level: 'silent' });
const TOKEN = 'stub-token-0123456789';
const FILE = 'apps/web.yaml';
const CLUSTER = 'e2e';

let c: TestCluster;
let kc: KubeConfig;
let tmp: string;
let bare: string;
let ns: string;
let leader: LeaderElector;
let stub: Stub;
let tls: ReturnType<typeof makeTls>;
let running: RunningLatcher | undefined;
let repo: GitRepo | undefined;
let leases: { stop(): void } | undefined;

const manifest = (image: string, pool = 'kwok') => `# the web tier; kube-latch writes the rollout annotation
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
  labels:
    kube-latch.io/enabled: "true"
  annotations:
    kube-latch.io/rollout: complete
spec:
  replicas: 4
  minReadySeconds: 2
  progressDeadlineSeconds: 120
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      nodeSelector:
        type: ${pool}   # the node pool
      containers:
        - name: app
          image: ${image}
`;

/**
 * Stopgap for the dev cluster: kwok runs the node/heartbeat-with-lease stage (a node status heartbeat
 * every 10+ minutes, on the assumption that Leases carry the heartbeat) without
 * --node-lease-duration-seconds, so nobody renews the Nodes' Leases. After the node monitor grace period
 * (~50 s) the node controller marks every Node NotReady and every pod on it not Ready, for good (kwok's
 * pod-ready stage only handles Pending pods). This suite runs longer than that, so when no Lease shows
 * up in kube-node-lease it renews them itself, marked as its own; it does nothing once kwok manages them.
 */
function keepNodeLeases(config: KubeConfig): { stop(): void } {
  const coordination = config.makeApiClient(CoordinationV1Api);
  const core = config.makeApiClient(CoreV1Api);
  const namespace = 'kube-node-lease';
  const MARK = 'kube-latch.io/rollout-e2e-keeper';
  let stopped = false;
  const renew = async () => {
    const nodes = (await core.listNode()).items;
    for (const n of nodes) {
      const name = n.metadata!.name!;
      let lease: V1Lease | undefined;
      try {
        lease = await coordination.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      if (lease && lease.metadata?.annotations?.[MARK] !== 'true') continue; // kwok's: leave it alone
      const body: V1Lease = {
        metadata: { name, namespace, annotations: { [MARK]: 'true' }, ...(lease?.metadata?.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}) },
        spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: new V1MicroTime(Date.now()) },
      };
      if (lease) await coordination.replaceNamespacedLease({ name, namespace, body });
      else await coordination.createNamespacedLease({ namespace, body });
    }
  };
  const loop = async () => {
    // Give kwok the first chance: with --node-lease-duration-seconds its Leases appear within seconds.
    await new Promise((r) => setTimeout(r, 5000));
    if (stopped || (await coordination.listNamespacedLease({ namespace })).items.some((l) => l.metadata?.annotations?.[MARK] !== 'true')) return;
    while (!stopped) {
      await renew().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 10_000));
    }
  };
  void loop();
  return {
    stop: () => {
      stopped = true;
    },
  };
}

before(async () => {
  c = await startCluster({ nodes: 2 });
  kc = loadKubeConfig(c.kubeconfig);
  leases = keepNodeLeases(kc);
  tmp = mkdtempSync(join(tmpdir(), 'kube-latch-rollout-e2e-'));
  ns = await c.namespace('rollout');
  bare = await makeRemote(tmp, { [FILE]: manifest('registry.example/web:1'), 'README.md': 'deploy repo\n' });
  leader = new LeaderElector(kubeLeaseStore(kc, ns, 'kube-latch-watcher'), { identity: 'e2e', logger: testLog });
  leader.start();
  await waitFor('the Lease', () => leader.isLeader(), { timeoutMs: 15_000 });
  tls = makeTls();
  stub = await startGitHubStub(tls, TOKEN, 'acme', 'deploy');
  writeFileSync(join(tmp, 'token'), TOKEN);
  await applyFromGit('main');
  await rolledOut();
});

after(async () => {
  leases?.stop();
  await running?.stop();
  await repo?.close();
  await leader?.stop();
  await stub?.stop();
  await c?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** What a GitOps tool does: apply the file as the branch holds it. */
async function applyFromGit(ref: string): Promise<void> {
  await c.kubectl(['apply', '-f', '-'], { input: await showFile(bare, ref, FILE) });
}

async function rolledOut(): Promise<void> {
  await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=120s'], { timeoutMs: 130_000 });
}

async function annotationIn(ref: string): Promise<string | undefined> {
  const m = /kube-latch\.io\/rollout: (.*)/.exec(await showFile(bare, ref, FILE));
  return m?.[1]?.replace(/^"|"$/g, '');
}

async function startIn(mode: 'push' | 'pr', batchWindowMs: number): Promise<RunningLatcher> {
  await running?.stop();
  await repo?.close();
  repo = await GitRepo.open({ url: `file://${bare}`, workDir: mkdtempSync(join(tmp, 'work-')), author: 'kube-latch <kube-latch@localhost>', logger: testLog });
  const prs = new GitHubPullRequests({ apiUrl: stub.apiUrl, tokenFile: join(tmp, 'token'), ca: tls.ca, repo: 'acme/deploy' });
  const gitMode = mode === 'push' ? { mode: 'push' as const } : { mode: 'pr' as const, pullRequests: prs, cluster: CLUSTER };
  running = await startLatcher({ kubeconfig: kc, git: rolloutGit(repo, gitMode), leadership: leader, batchWindowMs, registry: new Registry(), logger: testLog });
  return running;
}

/** One human commit of a new image, applied; waits for the rollout and for git to say complete again. */
async function rollout(image: string, minReadySeconds = 2): Promise<{ subjects: string[]; latencies: number[]; settled: number[]; seconds: number }> {
  const before = (await log(bare)).length;
  const already = running!.latcher.written.length;
  const text = (await showFile(bare, 'main', FILE)).replace(/image: .*/, `image: ${image}`).replace(/minReadySeconds: \d+/, `minReadySeconds: ${minReadySeconds}`);
  await otherWriterCommit(bare, { [FILE]: text }, `web ${image}`);
  const t0 = Date.now();
  await applyFromGit('main');
  await rolledOut();
  // One snapshot of the log: the newest commit is the latcher's and sets complete.
  const all = await waitFor(
    'git to record complete',
    async () => {
      const l = await log(bare);
      return l.length > before + 1 && l[0]!.author.startsWith('kube-latch') && (await annotationIn(l[0]!.sha)) === 'complete' ? l : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const seconds = (Date.now() - t0) / 1000;
  const entries = all.slice(0, all.length - before - 1).reverse();
  for (const e of entries) assert.equal(e.author, 'kube-latch <kube-latch@localhost>', 'only the latcher wrote after the human commit');
  // The push lands in the remote a moment before the latcher records it as written.
  await waitFor('the latcher to record its writes', async () => running!.latcher.written.length - already >= entries.length || undefined, { timeoutMs: 10_000 });
  const written = running!.latcher.written.slice(already);
  const latencies = written.map((w) => (w.writtenAt - w.observedAt) / 1000);
  const settled = written.map((w) => (w.writtenAt - w.since) / 1000);
  return { subjects: entries.map((e) => e.subject), latencies, settled, seconds };
}

const order = ['started', '25%', '50%', '75%', 'complete'];
const milestoneOf = (subject: string) => /milestone=(\S+)$/.exec(subject)?.[1] ?? (subject.endsWith('→ complete') ? 'complete' : '?');

test('push mode: rollouts that complete leave milestone commits ending at complete', async () => {
  await startIn('push', 1000);
  // Settled, and git says complete: nothing to write.
  await new Promise((r) => setTimeout(r, 3000));
  const seed = (await log(bare)).length;
  assert.equal(seed, 1);

  const fast = await rollout('registry.example/web:2');
  const ms = fast.subjects.map(milestoneOf);
  assert.equal(ms.at(-1), 'complete');
  assert.ok(ms.length >= 3, `several milestones with a 1 s window: ${ms.join(', ')}`);
  assert.deepEqual([...ms].sort((a, b) => order.indexOf(a) - order.indexOf(b)), ms, 'milestones in order');
  assert.equal(new Set(ms).size, ms.length, 'each milestone once');
  for (const s of fast.subjects.slice(0, -1)) assert.match(s, /^kube-latch: .*\/Deployment\/web annotation kube-latch\.io\/rollout → rev=2 images=app=registry\.example\/web:2 milestone=/);

  await startIn('push', 10_000);
  // Let the start-up check (git already says complete) finish its batch before the rollout begins.
  await new Promise((r) => setTimeout(r, 11_000));
  // A slower rollout (each new pod available 8 s after it is Ready) under the default 10 s window.
  const slow = await rollout('registry.example/web:3', 8);
  const ms10 = slow.subjects.map(milestoneOf);
  assert.equal(ms10.at(-1), 'complete');
  assert.ok(ms10.length >= 2, `a rollout longer than the window leaves milestones: ${ms10.join(', ')}`);
  assert.deepEqual([...ms10].sort((a, b) => order.indexOf(a) - order.indexOf(b)), ms10, 'milestones in order');
  assert.equal(new Set(ms10).size, ms10.length, 'each milestone once');

  const fmt = (l: number[]) => l.map((x) => x.toFixed(1)).join(' ');
  console.log(
    `# rollout figures: batch 1 s → ${ms.length} commits (${ms.join(', ')}) for a ${fast.seconds.toFixed(0)} s rollout, ` +
      `milestone→commit s: ${fmt(fast.latencies)} (oldest unwritten→commit: ${fmt(fast.settled)}); ` +
      `batch 10 s → ${ms10.length} commits (${ms10.join(', ')}) for a ${slow.seconds.toFixed(0)} s rollout, ` +
      `milestone→commit s: ${fmt(slow.latencies)} (oldest unwritten→commit: ${fmt(slow.settled)})`,
  );
  assert.equal(fast.latencies.length, ms.length);
  assert.equal(slow.latencies.length, ms10.length);
});

test('pr mode: a rollout that never turns Ready latches failed and opens the revert PR', async () => {
  await startIn('pr', 1000);
  const lastComplete = (await log(bare))[0]!.sha; // the latcher's `complete` commit of web:3
  assert.equal(await annotationIn('main'), 'complete');
  const goodText = await showFile(bare, 'main', FILE);
  // The bad change: a new image on a node pool that does not exist, so its pods stay Pending; and a
  // short progress deadline, so the test need not wait the usual minutes.
  const badText = goodText
    .replace(/image: .*/, 'image: registry.example/web:4')
    .replace('type: kwok', 'type: gpu')
    .replace('progressDeadlineSeconds: 120', 'progressDeadlineSeconds: 12');
  await otherWriterCommit(bare, { [FILE]: badText }, 'web 4 on gpu nodes');
  const applied = Date.now();
  await applyFromGit('main');

  const branch = `kube-latch/${CLUSTER}-revert-${ns}-web`;
  const pr = await waitFor('the revert PR', () => stub.prs.find((p) => p.head === branch), { timeoutMs: 90_000, intervalMs: 500 });
  const seconds = (Date.now() - applied) / 1000;
  const d = await c.getJson(['deployment', 'web', '-n', ns]);
  const progressing = d.status.conditions.find((x: { type: string }) => x.type === 'Progressing');
  assert.equal(progressing.reason, 'ProgressDeadlineExceeded');

  assert.equal(pr.state, 'open');
  assert.equal(pr.base, 'main');
  assert.equal(pr.title, `kube-latch: revert ${ns}/Deployment/web to the pod template of ${lastComplete.slice(0, 12)} (rollout revision 4 failed)`);
  assert.ok(pr.body.includes(progressing.message), 'the condition message');
  assert.match(pr.body, /\| web-[a-z0-9]+ \(new\) \| 4 \| app=registry\.example\/web:4 \| 1 \| 1 \| 0 \| 0 \|/);
  // The old ReplicaSet's ready/available counts are whatever they were (see docs/rollout.md, "e2e").
  assert.match(pr.body, /\| web-[a-z0-9]+ \| 3 \| app=registry\.example\/web:3 \| 4 \| 4 \| \d \| \d \|/);
  // The branch is main plus one commit that restores exactly the two template values.
  assert.equal((await git(bare, 'rev-parse', `${branch}^`)).trim(), (await git(bare, 'rev-parse', 'main')).trim());
  assert.equal(await showFile(bare, branch, FILE), badText.replace('registry.example/web:4', 'registry.example/web:3').replace('type: gpu', 'type: kwok'));
  assert.equal(await annotationIn('main'), 'complete', 'pr mode: main is untouched');

  // The failed milestone went to the cluster PR, which is another PR.
  await waitFor('failed in the cluster branch', async () => (await annotationIn(`kube-latch/${CLUSTER}`).catch(() => undefined)) === 'rev=4 images=app=registry.example/web:4 milestone=failed', { timeoutMs: 30_000 });
  const open = stub.prs.filter((p) => p.state === 'open').map((p) => p.head).sort();
  assert.deepEqual(open, [`kube-latch/${CLUSTER}`, branch].sort());
  const events = await c.getJson(['events', '-n', ns, '--field-selector', 'involvedObject.name=web']);
  const reasons = new Set(events.items.map((e: { reason: string }) => e.reason));
  for (const r of ['RolloutFailed', 'RolloutRevertProposed']) assert.ok(reasons.has(r), `Event ${r}: ${[...reasons].join(', ')}`);
  console.log(`# rollout figures: failed rollout → revert PR ${seconds.toFixed(0)} s after the apply (progressDeadlineSeconds 12)`);
});

test('rebuild from git: a Deployment re-created with the failed record gets the Event, and rolloutWarning flags it', async () => {
  const failedText = await showFile(bare, `kube-latch/${CLUSTER}`, FILE);
  assert.match(failedText, /milestone=failed/);
  await c.kubectl(['delete', 'deployment', 'web', '-n', ns, '--wait=true']);
  await c.kubectl(['apply', '-f', '-'], { input: failedText });
  const live = await c.getJson(['deployment', 'web', '-n', ns]);
  assert.equal(rolloutWarning(live), 'kube-latch: git records that this pod template failed its rollout (revision 4); not blocked');
  await waitFor(
    'the RolloutFailedBefore Event',
    async () => (await c.getJson(['events', '-n', ns, '--field-selector', 'reason=RolloutFailedBefore'])).items.find((e: { involvedObject: { uid: string } }) => e.involvedObject.uid === live.metadata.uid),
    { timeoutMs: 20_000 },
  );
});
