// Real helm-controller against a real HPA (issue 26, first slice): Flux's helm-controller v1.6.4 installs a
// chart that source-controller v1.9.1 serves from a GitRepository on the loopback git server, with
// `spec.driftDetection.mode: enabled`; the chart renders an opted-in Deployment (replicas from values.yaml,
// whose line carries the `# kube-latch:` marker) and a real HPA on kwok CPU. kube-latch's webhook is
// registered; its watcher writes the latch into values.yaml in the same bare repository. Every change of
// spec.replicas is recorded with its manager. Figures are printed as `# …` lines; docs/e2e.md has them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commits, createRemote, head, show } from '../../src/demo/git.ts';
import { FLUX_NAMESPACE } from '../../src/devcluster/tools/flux.ts';
import { waitFor, type TestCluster } from './helpers/cluster.ts';
import { chartFiles, HPA_MANAGER, startRealLoop, type App, type LoopHarness, type RealLoop } from './helpers/loop.ts';

const HELM_MANAGER = 'helm-controller';

let c: TestCluster;
let loop: LoopHarness;
let real: RealLoop | undefined;

before(async () => {
  real = await startRealLoop('real-helm-controller', ['metrics', 'helm-controller']);
  ({ c, loop } = real);
});

after(async () => {
  await real?.stop();
});

/** A namespace, a remote holding the chart, its GitRepository, and a HelmRelease with drift detection on. */
async function release(name: string, o: { replicas: number; optIn: boolean; min: number; max: number }): Promise<App> {
  const ns = await c.namespace(name, real!.suiteLabel);
  const remote = await createRemote(join(c.dir, 'git', `${ns}.git`), chartFiles(name, ns, o));
  await c.apply([
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: ns, namespace: FLUX_NAMESPACE },
      spec: { url: `${c.endpoints['git']}/${ns}.git`, ref: { branch: remote.branch }, interval: '10s', timeout: '20s' },
    },
    {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: ns, namespace: FLUX_NAMESPACE },
      spec: {
        interval: '10s',
        releaseName: name,
        targetNamespace: ns,
        chart: { spec: { chart: `./charts/${name}`, sourceRef: { kind: 'GitRepository', name: ns }, reconcileStrategy: 'Revision', interval: '10s' } },
        driftDetection: { mode: 'enabled' },
        install: { timeout: '60s' },
        upgrade: { timeout: '60s' },
      },
    },
  ]);
  return { name, ns, remote };
}

interface Hr {
  ready: string;
  /** the git revision of the chart last released, from the HelmChart's artifact (`main@sha1:…`) */
  chartRevision: string;
}

async function hr(app: App): Promise<Hr> {
  const h = await c.getJson(['-n', FLUX_NAMESPACE, 'helmrelease', app.ns]);
  const ready = (h.status?.conditions ?? []).find((x: { type: string }) => x.type === 'Ready') ?? {};
  const last = (h.status?.history ?? [])[0] ?? {};
  return { ready: ready.status ?? '', chartRevision: String(last.chartVersion ?? '') };
}

/** Released at the remote's tip: the chart version carries the revision's short sha (reconcileStrategy Revision). */
async function releasedAtHead(app: App, timeoutMs = 120_000): Promise<void> {
  await waitFor(`${app.ns}: the HelmRelease Ready at the tip of git`, async () => {
    const [h, tip] = await Promise.all([hr(app), head(app.remote)]);
    return h.ready === 'True' && h.chartRevision.endsWith(tip.slice(0, 12));
  }, { timeoutMs, intervalMs: 500 });
}

/** helm-controller's log lines about drift on this release (detected, corrected). */
function driftLines(app: App): number {
  return readFileSync(join(c.dir, 'logs', `${HELM_MANAGER}.log`), 'utf8').split('\n').filter((l) => l.includes(app.ns) && /drift/i.test(l)).length;
}

const valuesReplicas = async (app: App): Promise<number> => Number(/^replicas: (\d+)/m.exec(await show(app.remote, `charts/${app.name}/values.yaml`))?.[1]);

test('HelmRelease with drift detection + a real HPA: drift detection resets the HPA without kube-latch, never with it; the watcher’s latch lands in values.yaml and is released, live kept', async () => {
  const o = { replicas: 4, min: 2, max: 20 };
  const [bare, latched] = await Promise.all([release('hr-bare', { ...o, optIn: false }), release('hr-latched', { ...o, optIn: true })]);
  const [rBare, rLatched] = await Promise.all([loop.record(bare, 'helm-controller'), loop.record(latched, 'helm-controller')]);
  await Promise.all([releasedAtHead(bare), releasedAtHead(latched)]);
  const cpus = [loop.load(bare, 190), loop.load(latched, 190)];
  await loop.watcher(latched);
  const seed = await head(latched.remote);

  // Inside band(4) = 2-8: load wants 6 on both, for 60 s.
  cpus.forEach((l) => l.set(290));
  await waitFor('the HPA to move hr-latched to 6', () => rLatched.current() === 6, { timeoutMs: 120_000, intervalMs: 200 });
  const t = Date.now();
  await waitFor('60 s inside the band', () => Date.now() - t >= 60_000, { timeoutMs: 65_000, intervalMs: 1000 });
  assert.equal(await head(latched.remote), seed, 'no commit inside the band');
  const inBand = { bare: { writes: rBare.byManager(), drift: driftLines(bare) }, latched: { writes: rLatched.byManager(), drift: driftLines(latched) } };

  // Out of the band: the watcher latches values.yaml to 10; helm-controller upgrades the release to it; live stays the HPA's 12.
  cpus[1]!.set(590);
  await waitFor('the HPA to move hr-latched to 12', () => rLatched.current() === 12, { timeoutMs: 120_000, intervalMs: 200 });
  await waitFor("the watcher's commit", async () => (await head(latched.remote)) !== seed, { timeoutMs: 90_000, intervalMs: 500 });
  assert.equal(await valuesReplicas(latched), 10);
  assert.match(await show(latched.remote, `charts/${latched.name}/values.yaml`), new RegExp(`^replicas: 10 # kube-latch: ${latched.ns}/Deployment/${latched.name}\\n$`), 'only the number changed');
  await releasedAtHead(latched);
  await waitFor('the release to record declared 10', async () => (await loop.declared(latched)) === '10', { timeoutMs: 60_000, intervalMs: 500 });
  const latches = (await commits(latched.remote)).filter((x) => x.subject.startsWith('kube-latch:'));

  process.stdout.write(`# helm-controller, HelmRelease with drift detection, git declares 4, HPA at 6 (inside band 2-8) for 60 s:\n`);
  process.stdout.write(`# before (no kube-latch): replica writes by manager ${JSON.stringify(inBand.bare.writes)}, drift log lines ${inBand.bare.drift}, path ${rBare.writes.map((x) => x.to).join('→')}\n`);
  process.stdout.write(`# after (kube-latch): replica writes by manager ${JSON.stringify(inBand.latched.writes)}, drift log lines ${inBand.latched.drift}; then HPA → 12: watcher commits ${latches.length} (${latches.map((x) => x.subject.replace(/^kube-latch: \S+ /, '')).join('; ')}), released, declared ${await loop.declared(latched)}, live ${rLatched.current()}, all writes ${JSON.stringify(rLatched.byManager())}\n`);
  // Before: drift detection puts the chart's 4 back over the HPA's 6.
  assert.ok((rBare.byManager()[HELM_MANAGER] ?? 0) >= 1, `helm-controller corrected replicas: ${JSON.stringify(rBare.writes)}`);
  // After: only the HPA, inside the band and across the latch's release.
  assert.deepEqual([...new Set(rLatched.writes.map((x) => x.manager))], [HPA_MANAGER], JSON.stringify(rLatched.writes));
  assert.equal(rLatched.current(), 12);
  assert.equal(latches.length, 1);
  assert.equal((await hr(latched)).ready, 'True');
});
