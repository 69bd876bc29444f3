// `kube-latch watcher --rollout-milestones` end to end through the real CLI (docs/rollout.md): the
// watcher as a child process on a dev cluster whose kwok nodes turn pods Ready, a bare file:// remote
// holding one opted-in Deployment (and a Service in the same file), and an image change made with
// `kubectl set image`. The rollout must leave milestone commits on the remote, ending at `complete`,
// that touch nothing but the annotation on the Deployment's document; /metrics must expose the
// rollout metrics beside the replicas engine's (one registry); SIGTERM must exit 0.
//
// Figures are printed as `# ...` lines: the commits per rollout and the time from set image to each.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { commits, createRemote, git, head, show, type Remote } from '../../src/demo/git.ts';
import { httpGet } from '../../src/demo/children.ts';
import { startWatcherChild, type WatcherChild } from '../../src/demo/watcher.ts';
import { startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';

const FILE = 'apps/web.yaml';
const ANNOTATION = 'kube-latch.io/rollout';
const AUTHOR = 'kube-latch <kube-latch@localhost>';
const ORDER = ['started', '25%', '50%', '75%', 'complete'];

let c: TestCluster;
let w: WatcherChild | undefined;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-e2e-rollout-cli-'));

before(async () => {
  c = await startCluster({ nodes: 2 });
});
after(async () => {
  await w?.stop('SIGKILL');
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * As a repo would hold it: comments, a flow map, a Service after the Deployment, and no annotations
 * map at all, so the first milestone inserts one (docs/rollout.md, "Edit").
 */
const manifest = (ns: string) => `# the web tier; kube-latch writes its rollout progress here
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${ns}
  labels:
    app: web
    kube-latch.io/enabled: "true"
spec:
  replicas: 4   # latch point
  minReadySeconds: 3   # each new pod available 3 s after Ready: quarters further apart than the batch window
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
        type: kwok   # the node pool
      containers:
        - name: app
          image: registry.example/web:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: ${ns}
spec:
  selector: {app: web}
  ports:
    - port: 80
`;

/**
 * The file's lines without the rollout annotation, and without an `annotations:` key whose only entry
 * it was (the map the first milestone inserts).
 */
function withoutAnnotation(text: string): string[] {
  const lines = text.split('\n');
  const indent = (l: string | undefined) => (l === undefined ? -1 : l.length - l.trimStart().length);
  const isOurs = (l: string | undefined) => l !== undefined && l.trimStart().startsWith(`${ANNOTATION}:`);
  return lines.filter((l, i) => {
    if (isOurs(l)) return false;
    const onlyOurs = /^\s*annotations:\s*$/.test(l) && isOurs(lines[i + 1]) && indent(lines[i + 2]) < indent(lines[i + 1]);
    return !onlyOurs;
  });
}

function rolloutOf(text: string): { deployment: unknown; service: unknown } {
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind: string; metadata?: { annotations?: Record<string, string> } });
  const dep = docs.find((d) => d.kind === 'Deployment');
  const svc = docs.find((d) => d.kind === 'Service');
  return { deployment: dep?.metadata?.annotations?.[ANNOTATION], service: svc?.metadata?.annotations?.[ANNOTATION] };
}

async function metricsText(port: number): Promise<string> {
  const r = await httpGet(port, '/metrics');
  assert.equal(r.status, 200);
  return r.body;
}

test('watcher --rollout-milestones: a rollout on kwok leaves milestone commits ending at complete, touching only the annotation; /metrics has the rollout metrics; SIGTERM exits 0', async () => {
  const t0 = Date.now();
  const ns = await c.namespace('rollout-cli');
  const remote: Remote = await createRemote(join(tmp, 'remote.git'), { [FILE]: manifest(ns), 'README.md': 'deploy repo\n' });
  const seedText = await show(remote, FILE);
  const seed = await head(remote);

  // The GitOps tool's apply, and the first rollout (revision 1) done before the watcher starts.
  await c.kubectl(['apply', '-f', '-'], { input: seedText });
  await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s'], { timeoutMs: 100_000 });

  w = await startWatcherChild(
    [
      '--repo', remote.url,
      '--kubeconfig', c.kubeconfig,
      '--work-dir', join(tmp, 'work'),
      '--batch-window', '1',
      '--settle-up', '2',
      '--rollout-milestones',
      '--lease-namespace', ns,
      '--author', AUTHOR,
      '--metrics-port', '0',
    ],
    { name: 'watcher', logFile: join(c.dir, 'logs', `watcher-${ns}.log`) },
  );
  await w.ready();
  await w.waitForLog('the rollout latcher to start', (l) => l.msg === 'rollout milestones: watching opted-in Deployments and their ReplicaSets', 15_000);
  await waitFor('the watcher to lead', () => w!.isLeader(), { timeoutMs: 20_000 });
  const started = (Date.now() - t0) / 1000;

  // Complete, with no annotation in git: nothing to write (the annotation appears with the first rollout).
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await head(remote), seed, 'no commit before any rollout');

  // The rollout: revision 2, made in the cluster (git's image stays as it is).
  // A watcher of the remote's tip from now on: when each commit first showed up.
  const seen = new Map<string, number>();
  let watching = true;
  const setAt = Date.now();
  const tipWatch = (async () => {
    // Bounded, so that a failing test does not leave it polling.
    while (watching && Date.now() - setAt < 120_000) {
      const sha = await head(remote).catch(() => '');
      if (!seen.has(sha)) seen.set(sha, (Date.now() - setAt) / 1000);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await c.kubectl(['set', 'image', 'deployment/web', 'app=registry.example/web:2', '-n', ns]);
  await c.kubectl(['rollout', 'status', 'deployment/web', '-n', ns, '--timeout=90s'], { timeoutMs: 100_000 });
  const rolledOut = (Date.now() - setAt) / 1000;

  // The remote ends at complete, written by the watcher.
  const log = await waitFor(
    'the remote to record complete',
    async () => {
      // Read the file at the listed tip: a commit landing between the two reads must not mix them.
      const l = await commits(remote);
      return l.length > 1 && rolloutOf(await show(remote, FILE, l[0]!.sha)).deployment === 'complete' ? l : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  watching = false;
  await tipWatch;
  const written = log.slice(0, -1).reverse(); // oldest first, without the seed
  assert.equal(log.at(-1)!.sha, seed);
  for (const cm of written) assert.equal(`${cm.author} <${cm.email}>`, AUTHOR, `only the watcher wrote: ${cm.subject}`);

  // Each commit: the annotation on the Deployment's document, nothing else in the file or the repo.
  const milestones: string[] = [];
  const prefix = `kube-latch: ${ns}/Deployment/web annotation ${ANNOTATION} → `;
  for (const cm of written) {
    assert.ok(cm.subject.startsWith(prefix), cm.subject);
    const value = cm.subject.slice(prefix.length);
    const text = await show(remote, FILE, cm.sha);
    const r = rolloutOf(text);
    assert.equal(r.deployment, value, `the file at ${cm.sha.slice(0, 7)} holds what its subject says`);
    assert.equal(r.service, undefined, 'the Service document is untouched');
    assert.deepEqual(withoutAnnotation(text), seedText.split('\n'), `at ${cm.sha.slice(0, 7)} only the annotation line(s) differ from the seed`);
    assert.equal((await git(remote.dir, ['diff', '--name-only', `${cm.sha}^`, cm.sha])).trim(), FILE, 'one file per commit');
    if (value === 'complete') milestones.push('complete');
    else {
      const m = /^rev=2 images=app=registry\.example\/web:2 milestone=(\S+)$/.exec(value);
      assert.ok(m, `an in-flight value names revision 2 and the new image: ${value}`);
      milestones.push(m[1]!);
    }
  }
  assert.equal(milestones.at(-1), 'complete');
  assert.ok(milestones.length >= 3, `several milestones with a 1 s window and 3 s between quarters: ${milestones.join(", ")}`);
  assert.deepEqual([...milestones].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b)), milestones, 'milestones in order');
  assert.equal(new Set(milestones).size, milestones.length, 'each milestone once');

  // The final file: the seed plus the inserted annotation, exactly.
  const finalText = await show(remote, FILE);
  assert.match(finalText, /\nmetadata:\n {2}annotations:\n {4}kube-latch\.io\/rollout: complete\n {2}name: web\n/, 'inserted as the first child of the Deployment metadata');
  assert.equal(finalText.replace(`  annotations:\n    ${ANNOTATION}: complete\n`, ''), seedText);

  // /metrics: the rollout metrics in the watcher's own registry, beside the replicas engine's.
  await waitFor('complete counted', async () => (await w!.metric('kube_latch_rollout_milestones_written_total', { milestone: 'complete' })) === 1, { timeoutMs: 5_000 });
  for (const m of milestones) assert.equal(await w.metric('kube_latch_rollout_milestones_written_total', { milestone: m }), 1, `counter for ${m}`);
  const body = await metricsText(w.metricsPort);
  for (const name of ['kube_latch_rollout_milestones_written_total', 'kube_latch_rollout_milestone_to_commit_seconds', 'kube_latch_rollout_pending_milestones', 'kube_latch_rollout_write_failures_total', 'kube_latch_rollout_revert_prs_total', 'kube_latch_watcher_leader', 'kube_latch_watcher_pending_latches']) {
    assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), `/metrics exposes ${name}`);
  }
  assert.equal(await w.metric('kube_latch_rollout_milestone_to_commit_seconds_count'), milestones.length);
  // A status update seen after complete was pushed queues complete again until the next flush finds it in
  // git (no second commit: checked above): the gauge must come back to 0, not be 0 at this instant.
  await waitFor('nothing pending once complete is in git', async () => (await w!.metric('kube_latch_rollout_pending_milestones')) === 0, { timeoutMs: 10_000 });
  const warnings = () => JSON.stringify(w!.logs().filter((l) => Number(l['level']) >= 40).map((l) => ({ c: l['component'], msg: l.msg, err: l['err'] })));
  assert.equal(await w.metric('kube_latch_rollout_write_failures_total'), 0, `no failed git write: ${warnings()}`);
  assert.equal(await w.metric('kube_latch_watcher_latches_total', { direction: 'up' }), 0, 'no replicas latch');

  const exit = await w.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(w.logs().some((l) => l.msg === 'released the lease'));
  assert.equal(await head(remote), log[0]!.sha, 'nothing written on the way out');
  w = undefined;

  // A commit pushed over by the next one within 100 ms has no time of its own.
  const at = written.map((cm, i) => `${milestones[i]} ${seen.has(cm.sha) ? `+${seen.get(cm.sha)!.toFixed(1)} s` : '(not seen as the tip)'}`).join(', ');
  process.stdout.write(
    `# rollout via CLI (batch window 1 s): ${written.length} commits (${at}) for a ${rolledOut.toFixed(1)} s rollout; ` +
      `watcher leading ${started.toFixed(1)} s after the test began; test ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
});
