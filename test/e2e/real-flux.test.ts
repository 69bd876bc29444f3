// Real Flux against a real HPA, nothing emulated (issue 25): source-controller v1.9.1 pulls a smart-HTTP git
// remote (git http-backend on loopback, the flux extra of `dev-cluster up --with metrics,flux`),
// kustomize-controller v1.9.6 applies it (server-side apply, force); the HPA controller of
// kube-controller-manager scales through /scale on CPU that metrics-server v0.9.0 scrapes from kwok's
// emulated kubelet (pod annotation kwok.x-k8s.io/usage-cpu); kube-latch's webhook and watcher run as child
// processes, the watcher pushing to the same bare repository that Flux pulls. Every change of
// spec.replicas is recorded with the manager that made it (helpers/replica-writes.ts). Figures are printed
// as `# ...` lines; docs/e2e.md collects them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commits, head, pushFiles } from '../../src/demo/git.ts';
import { FLUX_NAMESPACE } from '../../src/devcluster/tools/flux.ts';
import { waitFor, type TestCluster } from './helpers/cluster.ts';
import { FLUX_MANAGER, fluxApps, type FluxApps } from './helpers/flux.ts';
import { HPA_MANAGER, manifests, startRealLoop, type App, type LoopHarness, type RealLoop } from './helpers/loop.ts';
import type { ReplicaWrites } from './helpers/replica-writes.ts';

/** how long scenario 1 runs: at least 3 minutes in npm test, 30 in the soak (npm run soak:loop) */
const RUN_SECONDS = Number(process.env['LOOP_SECONDS'] ?? 185);

let c: TestCluster;
let loop: LoopHarness;
let real: RealLoop | undefined;
let kustomization: FluxApps['kustomization'];
let ks: FluxApps['ks'];
let appliedAtHead: FluxApps['appliedAtHead'];
let applies: FluxApps['applies'];

before(async () => {
  real = await startRealLoop('real-flux', ['metrics', 'flux']);
  ({ c, loop } = real);
  ({ kustomization, ks, appliedAtHead, applies } = fluxApps(real));
});

after(async () => {
  await real?.stop();
});

/** Samples the Kustomization's Ready condition every second for `seconds`: how often each status was seen. */
async function readyOver(app: App, seconds: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < seconds; i++) {
    const k = await ks(app);
    const key = `${k.ready || '(none)'}${k.ready === 'True' ? '' : `/${k.reason}`}`;
    seen[key] = (seen[key] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return seen;
}

test('Flux Kustomization (SSA, force, 10 s) + a real HPA on kwok CPU: only the HPA changes replicas, Ready with no drift inside the band, the watcher’s commits are pulled and applied, declared follows git', async () => {
  const t0 = Date.now();
  const app = await kustomization('web', { replicas: 4, optIn: true, min: 2, max: 20 });
  const rec = await loop.record(app);
  await appliedAtHead(app);
  const cpu = loop.load(app, 190);
  await loop.watcher(app);
  const samples: Record<string, number> = {};
  const hold = async (what: string, seconds: number): Promise<void> => {
    const seen = await readyOver(app, seconds);
    for (const [k, v] of Object.entries(seen)) samples[k] = (samples[k] ?? 0) + v;
    // Each reconcile marks Ready Unknown/Progressing for a moment; never False.
    assert.ok(Object.keys(seen).every((k) => k === 'True' || k === 'Unknown/Progressing'), `${what}: ${JSON.stringify(seen)}`);
  };
  const move = async (total: number, to: number): Promise<void> => {
    cpu.set(total);
    await waitFor(`the HPA to move ${app.name} to ${to}`, () => rec.current() === to, { timeoutMs: 120_000, intervalMs: 200 });
  };
  const latched = async (from: string, to: number[]): Promise<string> => {
    const tip = await waitFor(`the watcher's commit after ${from.slice(0, 7)}`, async () => ((await head(app.remote)) !== from ? head(app.remote) : undefined), { timeoutMs: 90_000, intervalMs: 200 });
    const n = await loop.gitReplicas(app);
    assert.ok(to.includes(n), `git declares ${n}, expected one of ${to.join(', ')}`);
    await appliedAtHead(app);
    assert.equal(await loop.declared(app), String(n), 'declared follows git');
    return tip;
  };
  let tip = await head(app.remote);
  assert.equal(await loop.declared(app), '4');

  // Inside band(4) = 2-8: the HPA moves to 6; Flux reconciles every 10 s and finds nothing to change.
  await move(290, 6);
  await hold('HPA at 6 inside band 2-8', 40);
  assert.equal(await head(app.remote), tip, 'no commit inside the band');
  // Out of the band: the watcher latches git to 10, source-controller pulls it, kustomize-controller applies it; live stays the HPA's 12.
  await move(590, 12);
  tip = await latched(tip, [10]);
  assert.equal(rec.current(), 12);
  await hold('HPA at 12 inside band(10) = 5-20', 30);
  // Down out of the band: after settle-down the watcher latches to 2 (or 5 while 12 is inside its window).
  await move(140, 3);
  tip = await latched(tip, [2, 5]);
  assert.equal(rec.current(), 3);
  // The rest of the run (LOOP_SECONDS: 185 in npm test, 1800 in npm run soak:loop): load wobbles so
  // the HPA moves 3 <-> 4 every 30 s, inside the new band; nothing but the HPA changes replicas, no commit.
  let wobble = 0;
  while ((Date.now() - t0) / 1000 < RUN_SECONDS - 30) {
    wobble++;
    cpu.set(wobble % 2 === 1 ? 190 : 140);
    await hold(`wobble ${wobble} inside the new band`, 30);
  }
  await hold('the end of the run', Math.max(5, Math.ceil(RUN_SECONDS - (Date.now() - t0) / 1000)));

  const a = applies(app);
  assert.deepEqual([...new Set(rec.writes.map((x) => x.manager))], [HPA_MANAGER], JSON.stringify(rec.writes));
  assert.equal(a.drift, 0, 'no drift corrected at an unchanged revision');
  const watcherCommits = (await commits(app.remote)).filter((x) => x.subject.startsWith('kube-latch:'));
  assert.equal(watcherCommits.length, 2, JSON.stringify(watcherCommits.map((x) => x.subject)));
  assert.ok((await ks(app)).applied.endsWith(tip));
  process.stdout.write(`# real Flux ${((Date.now() - t0) / 1000).toFixed(0)} s: HPA moves ${rec.writes.length} (${rec.writes.map((x) => x.to).join('→')}), replica writes by manager ${JSON.stringify(rec.byManager())}, ` +
    `watcher commits ${watcherCommits.length} (${watcherCommits.map((x) => x.subject.replace(/^kube-latch: \S+ /, '')).reverse().join('; ')}), ` +
    `applies of new revisions ${a.newRevision}, drift reports ${a.drift}, Ready samples ${JSON.stringify(samples)}\n`);
});

test('flux2#1842: a reconcile resets the HPA’s replicas to git’s value without kube-latch; with it, none', async () => {
  const o = { replicas: 4, min: 2, max: 10 };
  const [bare, latched] = await Promise.all([kustomization('reset-bare', { ...o, optIn: false }), kustomization('reset-latched', { ...o, optIn: true })]);
  const [rBare, rLatched] = await Promise.all([loop.record(bare, 'Flux'), loop.record(latched, 'Flux')]);
  await Promise.all([appliedAtHead(bare), appliedAtHead(latched)]);
  // Load wanting 6 pods on each, against git's 4.
  loop.load(bare, 290);
  loop.load(latched, 290);
  await waitFor('the HPA to raise the latched one to 6', () => rLatched.current() === 6, { timeoutMs: 120_000, intervalMs: 200 });
  const WINDOW = 60_000;
  const t = Date.now();
  await waitFor('a window of 60 s', () => Date.now() - t >= WINDOW, { timeoutMs: WINDOW + 5_000, intervalMs: 1000 });
  const [aBare, aLatched] = [applies(bare), applies(latched)];
  process.stdout.write(`# flux2#1842 over ${WINDOW / 1000} s after the HPA's first move (git declares 4, load wants 6):\n`);
  for (const [label, r, a] of [['before (no kube-latch)', rBare, aBare], ['after (kube-latch)', rLatched, aLatched]] as const) {
    process.stdout.write(`# ${label}: replica writes by manager ${JSON.stringify(r.byManager())}, drift reports ${a.drift}, path ${r.writes.map((x) => x.to).join('→') || '(none)'}\n`);
  }
  // Before: kustomize-controller puts git's 4 back on its reconciles and the HPA raises it again.
  assert.ok((rBare.byManager()[FLUX_MANAGER] ?? 0) >= 2, `kustomize-controller reset replicas at least twice: ${JSON.stringify(rBare.writes)}`);
  assert.ok(aBare.drift >= 2, `Flux reported drift at least twice: ${JSON.stringify(aBare)}`);
  // After: the HPA's one move, not a single write by kustomize-controller, no drift.
  assert.deepEqual(rLatched.writes.map((x) => [x.from, x.to, x.manager]), [[4, 6, HPA_MANAGER]], JSON.stringify(rLatched.writes));
  assert.equal(aLatched.drift, 0);
  // Ready, once any reconcile in flight has finished (it shows Unknown/Progressing for a moment).
  await waitFor('the latched Kustomization Ready', async () => (await ks(latched)).ready === 'True', { timeoutMs: 30_000, intervalMs: 500 });
});

test('flux2#2514: `flux resume` after the HPA moved drops 3 → 1 without kube-latch; with it, the watcher latched git while suspended and the resume keeps 3', async () => {
  const o = { replicas: 1, min: 1, max: 10 };
  const [bare, latched] = await Promise.all([kustomization('resume-bare', { ...o, optIn: false }), kustomization('resume-latched', { ...o, optIn: true })]);
  const [rBare, rLatched] = await Promise.all([loop.record(bare, 'Flux'), loop.record(latched, 'Flux')]);
  await Promise.all([appliedAtHead(bare), appliedAtHead(latched)]);
  await loop.watcher(latched);
  // `flux suspend kustomization`: spec.suspend, as the CLI sets it.
  const suspend = (app: App, on: boolean) => c.kubectl(['patch', '-n', FLUX_NAMESPACE, 'kustomization', app.ns, '--type=merge', '-p', JSON.stringify({ spec: { suspend: on } })]);
  await Promise.all([suspend(bare, true), suspend(latched, true)]);
  // Load wanting 3 pods on each while Flux is suspended.
  loop.load(bare, 140);
  loop.load(latched, 140);
  await Promise.all([rBare, rLatched].map((r) => waitFor('the HPA to raise replicas to 3', () => r.current() === 3, { timeoutMs: 120_000, intervalMs: 200 })));
  const tip = await waitFor('the watcher to latch git while Flux is suspended', async () => ((await loop.gitReplicas(latched)) !== 1 ? head(latched.remote) : undefined), { timeoutMs: 90_000, intervalMs: 500 });
  const latchedTo = await loop.gitReplicas(latched);
  // `flux resume kustomization`: suspend off and a reconcile requested at once.
  const resumedAt = Date.now();
  await Promise.all([suspend(bare, false), suspend(latched, false)]);
  await Promise.all([bare, latched].map((a) => c.kubectl(['annotate', '-n', FLUX_NAMESPACE, '--overwrite', 'kustomization', a.ns, `reconcile.fluxcd.io/requestedAt=${resumedAt}`])));
  await appliedAtHead(latched);
  assert.ok((await ks(latched)).applied.endsWith(tip));
  await waitFor('30 s after the resume', () => Date.now() - resumedAt >= 30_000, { timeoutMs: 35_000, intervalMs: 1000 });
  const after = (r: ReplicaWrites) => r.writes.filter((x) => x.at >= resumedAt);
  process.stdout.write(`# flux2#2514, resume after the HPA moved 1 → 3 while suspended (git declares 1; kube-latch latched git to ${latchedTo} meanwhile), 30 s after the resume:\n`);
  for (const [label, r] of [['before (no kube-latch)', rBare], ['after (kube-latch)', rLatched]] as const) {
    process.stdout.write(`# ${label}: replica writes by manager after the resume ${JSON.stringify(Object.fromEntries(Object.entries(Object.groupBy(after(r), (x) => x.manager)).map(([k, v]) => [k, v!.length])))}, path ${after(r).map((x) => `${x.from}→${x.to}`).join(' ') || '(none)'}\n`);
  }
  // Before: the resume applies git's 1 over the HPA's 3.
  assert.ok(after(rBare).some((x) => x.from === 3 && x.to === 1 && x.manager === FLUX_MANAGER), `the resume dropped 3 → 1: ${JSON.stringify(rBare.writes)}`);
  // After: nothing but the HPA ever wrote replicas, and the resume changed nothing.
  assert.deepEqual([...new Set(rLatched.writes.map((x) => x.manager))], [HPA_MANAGER], JSON.stringify(rLatched.writes));
  assert.deepEqual(after(rLatched), []);
  assert.equal(rLatched.current(), 3);
});

test('kubernetes#25238: removing replicas from git drops 4 → 1 without kube-latch; with it, live 4 stays (rule undeclared)', async () => {
  // Load that the HPA meets with git's 4 (190m over 4 pods is 47.5 % of a 50 % target, inside its 10 %
  // tolerance), so the HPA never writes and kustomize-controller is the only owner of spec.replicas.
  const o = { replicas: 4, min: 2, max: 10 };
  const [bare, latched] = await Promise.all([kustomization('drop-bare', { ...o, optIn: false }), kustomization('drop-latched', { ...o, optIn: true })]);
  const [rBare, rLatched] = await Promise.all([loop.record(bare, 'Flux'), loop.record(latched, 'Flux')]);
  await Promise.all([appliedAtHead(bare), appliedAtHead(latched)]);
  loop.load(bare, 190);
  loop.load(latched, 190);
  // The commit that stops declaring replicas (a chart or overlay that leaves it to the HPA).
  const droppedAt = Date.now();
  await Promise.all(
    [bare, latched].map((a) =>
      pushFiles(a.remote, { [`apps/${a.name}.yaml`]: manifests(a.name, { ...o, optIn: a === latched }).replace(/\n {2}replicas: \d+\n/, '\n') }, 'let the HPA own replicas'),
    ),
  );
  await Promise.all([appliedAtHead(bare), appliedAtHead(latched)]);
  await waitFor('30 s after the apply without replicas', () => Date.now() - droppedAt >= 30_000, { timeoutMs: 60_000, intervalMs: 1000 });
  process.stdout.write('# kubernetes#25238, git stops declaring replicas (was 4; load wants 4), 30 s after Flux applied it:\n');
  for (const [label, r] of [['before (no kube-latch)', rBare], ['after (kube-latch)', rLatched]] as const) {
    process.stdout.write(`# ${label}: replica writes by manager ${JSON.stringify(r.byManager())}, path ${r.writes.map((x) => `${x.from}→${x.to}`).join(' ') || '(none)'}\n`);
  }
  // Before: kustomize-controller's apply no longer owns the field, nobody else does, so the apiserver
  // defaults it to 1 (a defaulted field has no owner: the write shows as "(none)"), then the HPA climbs back.
  assert.ok(rBare.writes.some((x) => x.from === 4 && x.to === 1 && x.manager !== HPA_MANAGER), `the apply without replicas dropped 4 → 1: ${JSON.stringify(rBare.writes)}`);
  // After: nobody changed replicas; the memory still says 4.
  assert.deepEqual(rLatched.writes, []);
  assert.equal(rLatched.current(), 4);
  assert.equal(await loop.declared(latched), '4');
  assert.equal((await ks(latched)).ready, 'True');
});
