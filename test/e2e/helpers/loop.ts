// The real GitOps loop's shared pieces for the e2e suites that run real controllers (real-flux,
// real-argocd): an opted-in (or not) Deployment with a real autoscaling/v2 HPA, CPU load as kwok's pod
// usage annotation, a recorder of every spec.replicas change with its manager, and a kube-latch watcher
// child for one app's remote. One LoopHarness per test file; stop() ends what it started. startRealLoop()
// is a test file's whole setup: the cluster with its extras, the webhook registered, the harness.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { show, type Remote } from '../../../src/demo/git.ts';
import { startWatcherChild, type WatcherChild } from '../../../src/demo/watcher.ts';
import { USAGE_CPU_ANNOTATION } from '../../../src/devcluster/tools/metrics.ts';
import type { ExtraName } from '../../../src/devcluster/tools/extras.ts';
import { startCluster, waitFor, type TestCluster } from './cluster.ts';
import { watchReplicaWrites, type ReplicaWrites } from './replica-writes.ts';
import { DECLARED, ENABLED_LABEL, registerWebhook, startLocalWebhook, type LocalWebhook, type Registration } from './webhook.ts';

/** the HPA controller's own write through /scale */
export const HPA_MANAGER = 'kube-controller-manager/scale';

export interface App {
  name: string;
  ns: string;
  remote: Remote;
}

export interface Load {
  /** total CPU millicores spread over the Deployment's pods (the HPA then wants ceil(total/50) pods) */
  set(totalMilli: number): void;
  stop(): Promise<void>;
}

/**
 * apps/NAME.yaml: the Deployment (100m CPU request per pod) and its HPA, targeting 50 % of it, so a total
 * load of L millicores wants ceil(L/50) pods; scale-down without the 300 s stabilization window.
 */
export function manifests(name: string, o: { replicas: number; optIn: boolean; min: number; max: number }): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    app: ${name}
${o.optIn ? `    ${ENABLED_LABEL}: "true"\n` : ''}spec:
  replicas: ${o.replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
        - name: app
          image: example.invalid/${name}:1
          resources: {requests: {cpu: 100m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: ${name}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ${name}}
  minReplicas: ${o.min}
  maxReplicas: ${o.max}
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 0}
`;
}

/** charts/NAME: manifests() as a chart's templates, replicas from values.yaml, whose line the watcher finds by its marker. */
export function chartFiles(name: string, ns: string, o: { replicas: number; optIn: boolean; min: number; max: number }): Record<string, string> {
  const rendered = manifests(name, o).replace(/\n {2}replicas: \d+\n/, '\n  replicas: {{ .Values.replicas }}\n');
  return {
    [`charts/${name}/Chart.yaml`]: `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`,
    [`charts/${name}/values.yaml`]: `replicas: ${o.replicas} # kube-latch: ${ns}/Deployment/${name}\n`,
    [`charts/${name}/templates/workload.yaml`]: rendered,
  };
}

export interface WatcherOptions {
  /** a standby's name: its own work dir and log, the same Lease */
  id?: string;
  /** seconds (default 1) */
  batchWindow?: number;
  /** the remote by another URL (default the bare repository's file:// URL) and the flags it needs, e.g. ssh */
  repo?: { url: string; args: readonly string[] };
}

export interface LoopHarness {
  load(app: App, totalMilli: number): Load;
  /** waits until `who` has created the Deployment, then records every change of its replicas */
  record(app: App, who?: string): Promise<ReplicaWrites>;
  /**
   * A watcher for the app's remote: settle-up 2 s, settle-down 5 s, batch window 1 s (or `batchWindow`);
   * resolves once ready. Watchers with another `id` on the same app are its standbys (own work dir, one Lease).
   */
  watcher(app: App, o?: WatcherOptions): Promise<WatcherChild>;
  gitReplicas(app: App): Promise<number>;
  declared(app: App): Promise<string | undefined>;
  /**
   * Stops the watchers started so far. A watcher watches every opted-in workload of the cluster, so one left
   * running would report the next test's workloads as not found in its repository (Events, noise only).
   */
  stopWatchers(): Promise<void>;
  stop(): Promise<void>;
}

export function loopHarness(c: TestCluster, workDir: string): LoopHarness {
  const loads: Load[] = [];
  const recorders: ReplicaWrites[] = [];
  const watchers: WatcherChild[] = [];

  /** Keeps every pod's kwok usage annotation at total/pods, re-spreading it as pods come and go. */
  function load(app: App, totalMilli: number): Load {
    let total = totalMilli;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const pods = (await c.getJson(['-n', app.ns, 'pods', '-l', `app=${app.name}`]).catch(() => ({ items: [] }))).items
          .filter((p: { metadata: { deletionTimestamp?: string } }) => !p.metadata.deletionTimestamp);
        if (pods.length > 0) {
          const each = `${Math.ceil(total / pods.length)}m`;
          await c.kubectl(['annotate', '-n', app.ns, '--overwrite', ...pods.map((p: { metadata: { name: string } }) => `pod/${p.metadata.name}`), `${USAGE_CPU_ANNOTATION}=${each}`], { allowFail: true });
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    const l: Load = {
      set: (t) => void (total = t),
      async stop() {
        stopped = true;
        await loop;
      },
    };
    loads.push(l);
    return l;
  }

  return {
    load,
    async record(app, who = 'the GitOps controller') {
      await waitFor(`${who} to create ${app.ns}/${app.name}`, async () => (await c.kubectl(['get', '-n', app.ns, 'deployment', app.name], { allowFail: true })).code === 0, { timeoutMs: 90_000, intervalMs: 500 });
      const r = await watchReplicaWrites(c.kubeconfig, app.ns, app.name);
      recorders.push(r);
      return r;
    },
    async watcher(app, o = {}) {
      const id = `${app.ns}${o.id ? `-${o.id}` : ''}`;
      const w = await startWatcherChild(
        ['--kubeconfig', c.kubeconfig, '--repo', o.repo?.url ?? app.remote.url, ...(o.repo?.args ?? []), '--work-dir', join(workDir, `work-${id}`), '--settle-up', '2', '--settle-down', '5',
          '--batch-window', String(o.batchWindow ?? 1), '--lease-namespace', app.ns, '--author', 'kube-latch <watcher@example.invalid>'],
        { name: `watcher${o.id ? ` ${o.id}` : ''}`, logFile: join(c.dir, 'logs', `watcher-${id}.log`) },
      );
      watchers.push(w);
      await w.ready();
      return w;
    },
    gitReplicas: async (app) => Number(/\n  replicas: (\d+)\n/.exec(await show(app.remote, `apps/${app.name}.yaml`))?.[1]),
    declared: async (app) => (await c.getJson(['-n', app.ns, 'deployment', app.name])).metadata.annotations?.[DECLARED],
    async stopWatchers() {
      await Promise.all(watchers.splice(0).map((w) => w.stop('SIGTERM')));
    },
    async stop() {
      for (const l of loads) await l.stop();
      for (const r of recorders) r.stop();
      await Promise.all(watchers.splice(0).map((w) => w.stop('SIGKILL')));
    },
  };
}

export interface RealLoop {
  c: TestCluster;
  loop: LoopHarness;
  /** the label of the namespaces the webhook is registered for: create them with c.namespace(name, suiteLabel) */
  suiteLabel: Record<string, string>;
  /** stops the harness, removes the registration, stops the webhook and the cluster */
  stop(): Promise<void>;
}

/** A dev cluster with `extras` and one node, kube-latch's webhook registered for the suite's namespaces, and a harness. */
export async function startRealLoop(suite: string, extras: readonly ExtraName[]): Promise<RealLoop> {
  const suiteLabel = { 'kube-latch-e2e': suite };
  const workDir = mkdtempSync(join(tmpdir(), `kube-latch-e2e-${suite}-`));
  const c = await startCluster({ nodes: 1, with: extras });
  const loop = loopHarness(c, workDir);
  let wh: LocalWebhook | undefined;
  let reg: Registration | undefined;
  const stop = async (): Promise<void> => {
    await loop.stop();
    await reg?.remove().catch(() => {});
    await wh?.stop();
    await c.stop();
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    wh = await startLocalWebhook({ cluster: c });
    const probeNamespace = await c.namespace(`${suite}-probe`, suiteLabel);
    reg = await registerWebhook(c, { url: wh.url, caBundle: wh.caPem, name: `kube-latch-${suite}`, namespaceSelector: { matchLabels: suiteLabel }, probeNamespace });
  } catch (err) {
    await stop();
    throw err;
  }
  return { c, loop, suiteLabel, stop };
}
