// Issue 12 §1 acceptance: git declaring exactly the live count. A real apiserver calls the webhook (a local
// `kube-latch webhook`), the real `kube-latch watcher` pushes to a real bare remote, and four appliers apply
// what git says: Flux (server-side apply as kustomize-controller, --force-conflicts), `kubectl apply`
// (client-side), Helm 3 (the built helm binary) and Argo CD (server-side apply as argocd-controller,
// --force-conflicts). One cluster, one webhook, one remote and one watcher run serve all four.
//
// The sequence, per applier: git 20 applied; the HPA (kubectl scale: /scale, as the HPA writes) takes live
// to 50; the watcher latches 20 → 50, pushes, and marks the workload `kube-latch.io/latched: "50"`; the
// applier applies 50; HPA → 22, sync of 50; HPA → 110, sync of 50. Each ends with the live count kept,
// `kube-latch.io/declared` = 50 and no marker.
//
// The watcher is stopped once it has pushed and marked: 22 lies below band(50) = 25-100 and 110 above it,
// so a running watcher would go on to latch 50 → 20 (after settle-down) and 50 → 100 (after settle-up),
// and the later syncs would no longer be "of 50". Stopping it makes the rest of the sequence independent
// of timing; its settle-up (2 s) and batch window (1 s) only need to be short enough for a quick first latch.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { commits, createRemote, head, show, type Remote } from '../../src/demo/git.ts';
import { startWatcherChild, type WatcherChild } from '../../src/demo/watcher.ts';
import { startCluster, waitFor, type RunResult, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, registerWebhook, startLocalWebhook, type LocalWebhook, type Registration } from './helpers/webhook.ts';

const LATCHED = 'kube-latch.io/latched';
const SUITE_LABEL = { 'kube-latch-e2e': 'latch-marker' };
const MWC = `kube-latch-marker-e2e-${randomBytes(3).toString('hex')}`;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-e2e-marker-'));

let c: TestCluster;
let wh: LocalWebhook | undefined;
let reg: Registration | undefined;
let watcher: WatcherChild | undefined;
let remote: Remote;
let ns = '';
let seed = '';

function deploymentYaml(name: string, replicas: number, namespace: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app: ${name}
    kube-latch.io/enabled: "true"
spec:
  paused: true
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: app
          image: example.invalid/${name}:1
`;
}

/** A Helm chart in git; the watcher finds the value through the marker comment in values.yaml. */
function helmChart(name: string, namespace: string): Record<string, string> {
  return {
    'helm/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    'helm/values.yaml': `replicas: 20 # kube-latch: ${namespace}/Deployment/${name}\n`,
    'helm/templates/deployment.yaml': deploymentYaml(name, 20, namespace).replace('replicas: 20', 'replicas: {{ .Values.replicas }}'),
  };
}

interface Applier {
  name: string;
  workload: string;
  /** applies what git says now; stdout+stderr (where kubectl and helm print the webhook's warnings) */
  apply(): Promise<string>;
}

const text = (r: RunResult) => r.stdout + r.stderr;

/** Server-side apply of the file in git under `manager`, forced (the /scale manager owns replicas after an HPA move). */
const ssaApplier = (name: string, workload: string, manager: string): Applier => ({
  name,
  workload,
  apply: async () => text(await c.apply(await show(remote, `${name}/web.yaml`), { serverSide: true, fieldManager: manager, force: true })),
});

const appliers: Applier[] = [
  ssaApplier('flux', 'flux-web', 'kustomize-controller'),
  { name: 'kubectl', workload: 'kubectl-web', apply: async () => text(await c.apply(await show(remote, 'kubectl/web.yaml'))) },
  {
    name: 'helm',
    workload: 'helm-web',
    apply: async () => {
      const dir = mkdtempSync(join(tmp, 'chart-'));
      for (const f of ['helm/Chart.yaml', 'helm/values.yaml', 'helm/templates/deployment.yaml']) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        writeFileSync(join(dir, f), await show(remote, f));
      }
      return text(await c.helm(['upgrade', '--install', 'web', join(dir, 'helm'), '-n', ns]));
    },
  },
  ssaApplier('argocd', 'argocd-web', 'argocd-controller'),
];

async function live(name: string): Promise<{ replicas: number; declared?: string; latched?: string }> {
  const o = await c.getJson(['deployment', name, '-n', ns]);
  return { replicas: o.spec.replicas, declared: o.metadata.annotations?.[DECLARED], latched: o.metadata.annotations?.[LATCHED] };
}

/** kubectl scale: the /scale subresource, as the HPA writes (the webhook never sees it). */
async function hpa(name: string, n: number): Promise<void> {
  await c.kubectl(['scale', `deployment/${name}`, `--replicas=${n}`, '-n', ns]);
}

before(async () => {
  c = await startCluster({ nodes: 1 });
  ns = await c.namespace('marker', SUITE_LABEL);
  wh = await startLocalWebhook({ cluster: c });
  reg = await registerWebhook(c, { url: wh.url, caBundle: wh.caPem, name: MWC, namespaceSelector: { matchLabels: SUITE_LABEL }, probeNamespace: ns });
  const files: Record<string, string> = { ...helmChart('helm-web', ns) };
  for (const a of ['flux', 'kubectl', 'argocd']) files[`${a}/web.yaml`] = deploymentYaml(`${a}-web`, 20, ns);
  remote = await createRemote(join(tmp, 'remote.git'), files);
  seed = await head(remote);
});

after(async () => {
  await watcher?.stop('SIGKILL');
  await reg?.remove().catch(() => {});
  await wh?.stop();
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('git declaring exactly the live count (issue 12 §1)', () => {
  test('git 20 applied by each applier; the HPA takes live to 50; the watcher pushes 20 → 50 and marks each workload latched "50"', async () => {
    for (const a of appliers) {
      await a.apply();
      assert.deepEqual(await live(a.workload), { replicas: 20, declared: '20', latched: undefined }, `${a.name}: created at 20`);
      await hpa(a.workload, 50);
    }
    watcher = await startWatcherChild(
      ['--kubeconfig', c.kubeconfig, '--repo', remote.url, '--work-dir', join(tmp, 'work'), '--settle-up', '2', '--settle-down', '86400', '--batch-window', '1', '--lease-namespace', ns, '--author', 'watcher <watcher@example.invalid>'],
      { name: 'watcher', logFile: join(c.dir, 'logs', `watcher-${ns}.log`) },
    );
    await watcher.ready();
    await waitFor(
      'every workload marked latched "50"',
      async () => (await Promise.all(appliers.map((a) => live(a.workload)))).every((l) => l.latched === '50'),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await watcher.stop('SIGTERM');
    watcher = undefined;

    assert.notEqual(await head(remote), seed);
    const pushed = await commits(remote);
    assert.ok(pushed.length >= 2, 'at least one latch commit on top of the seed');
    for (const a of appliers.filter((x) => x.name !== 'helm')) assert.match(await show(remote, `${a.name}/web.yaml`), /\n {2}replicas: 50\n/, `${a.name}: git says 50`);
    assert.equal(await show(remote, 'helm/values.yaml'), `replicas: 50 # kube-latch: ${ns}/Deployment/helm-web\n`);
    for (const a of appliers) {
      // The marker write is silent about replicas (rule 2): the webhook keeps it, and live stays 50.
      assert.deepEqual(await live(a.workload), { replicas: 50, declared: '20', latched: '50' }, `${a.name}: marked, memory still 20`);
    }
  });

  for (const a of appliers) {
    test(`${a.name}: applies 50 (git caught up), then syncs of 50 keep the HPA’s 22 and 110; declared 50, no marker`, async () => {
      const first = await a.apply();
      if (a.name === 'helm') {
        // Helm 3's three-way patch omits replicas when live already equals the new value (no request at
        // all, or one without replicas: silent). Either way the marker stays for the next sync to use.
        assert.deepEqual(await live(a.workload), { replicas: 50, declared: '20', latched: '50' }, `${first}`);
      } else {
        // The declaration of 50 equals the marker: rule 3 (unchanged), memory 50, marker removed.
        assert.deepEqual(await live(a.workload), { replicas: 50, declared: '50', latched: undefined }, `${first}`);
      }

      await hpa(a.workload, 22);
      const at22 = await a.apply();
      assert.match(at22, /kube-latch: kept replicas 22 \(declared 50, band 25-100\); new latch point 20 due/);
      assert.deepEqual(await live(a.workload), { replicas: 22, declared: '50', latched: undefined }, 'the HPA’s 22 kept, memory 50');

      await hpa(a.workload, 110);
      const at110 = await a.apply();
      assert.match(at110, /kube-latch: kept replicas 110 \(declared 50, band 25-100\); new latch point 100 due/);
      assert.deepEqual(await live(a.workload), { replicas: 110, declared: '50', latched: undefined }, 'the HPA’s 110 kept');

      const rules = (wh!.logs() as Array<{ rule?: string; name?: string }>).filter((l) => l.name === a.workload).map((l) => l.rule);
      assert.ok(!rules.includes('out-of-band'), `${a.name}: no apply of 50 was judged against the stale 20: ${rules.join(', ')}`);
    });
  }
});
