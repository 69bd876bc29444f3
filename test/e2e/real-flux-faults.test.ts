// Faults on the real loop (issue 26): real Flux (source-controller v1.9.1, kustomize-controller v1.9.6) and
// a real HPA (kube-controller-manager, metrics-server v0.9.0 on kwok CPU), kube-latch's webhook and watcher
// as child processes, as in real-flux.test.ts. Where the git server is the fault, the watcher pushes over
// SSH (a loopback sshd, host key checked strictly) to the bare repository that Flux pulls over smart HTTP,
// and "the git server down" stops both (SIGSTOP: connections hang, as with a host that stopped answering).
// Each test injects one fault while a latch is under way: kube-apiserver restarted under the watcher's
// watches; SIGTERM to the watcher while its push hangs; the leader killed with a batch pending (the standby
// takes the Lease, fetches git and writes); the git server stopped for two minutes; source-controller
// serving the artifact from before the watcher's push. Each
// ends with every latch in git exactly once (read from the commits' Kube-Latch-Change trailers), Flux
// applied at git's tip, declared following git, and no change of spec.replicas that the HPA did not make.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { commits, head, pushFiles, show, type Remote } from '../../src/demo/git.ts';
import { readState, restart } from '../../src/devcluster/index.ts';
import { FLUX_NAMESPACE } from '../../src/devcluster/tools/flux.ts';
import { ANNOTATIONS } from '../../src/latch/policy.ts';
import { waitFor, type TestCluster } from './helpers/cluster.ts';
import { fluxApps, type FluxApps } from './helpers/flux.ts';
import { HPA_MANAGER, startRealLoop, type App, type Load, type LoopHarness, type RealLoop } from './helpers/loop.ts';
import type { ReplicaWrites } from './helpers/replica-writes.ts';
import { startSshd, type Sshd } from '../integration/git/helpers/sshd.ts';

let c: TestCluster;
let loop: LoopHarness;
let flux: FluxApps;
let real: RealLoop | undefined;
let sshd: Sshd | undefined;
let knownHosts = '';

before(async () => {
  real = await startRealLoop('real-flux-faults', ['metrics', 'flux']);
  ({ c, loop } = real);
  flux = fluxApps(real);
  sshd = await startSshd(join(c.dir, 'sshd'));
  knownHosts = join(c.dir, 'sshd', 'known_hosts');
  writeFileSync(knownHosts, sshd.knownHosts);
});

// A watcher watches every opted-in workload of the cluster: one per test at a time.
afterEach(() => loop.stopWatchers());

after(async () => {
  await sshd?.stop();
  await real?.stop();
});

const LATCHED = ANNOTATIONS.latched;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (from: number): string => `${((Date.now() - from) / 1000).toFixed(0)} s`;

/** An opted-in Deployment at 4 in git (band 2-8, HPA 2-20), applied by Flux, with load that keeps it at 4. */
async function steadyApp(name: string): Promise<{ app: App; rec: ReplicaWrites; cpu: Load }> {
  const app = await flux.kustomization(name, { replicas: 4, optIn: true, min: 2, max: 20 });
  const rec = await loop.record(app);
  await flux.appliedAtHead(app);
  return { app, rec, cpu: loop.load(app, 190) };
}

/** Load that wants 12 pods, out of band(4): the HPA moves there (the watcher's latch is then 10). */
async function toTwelve(app: App, rec: ReplicaWrites, cpu: Load): Promise<void> {
  cpu.set(590);
  await waitFor(`the HPA to move ${app.name} to 12`, () => rec.current() === 12, { timeoutMs: 120_000, intervalMs: 200 });
}

/** The latches kube-latch's commits carry, oldest first, as `name=value` (from their Kube-Latch-Change trailers). */
async function latchesInGit(remote: Remote): Promise<string[]> {
  const out: string[] = [];
  for (const commit of (await commits(remote)).reverse()) {
    if (!commit.subject.startsWith('kube-latch:')) continue;
    for (const m of commit.body.matchAll(/^Kube-Latch-Change: (\{.*\})$/gm)) {
      const change = JSON.parse(m[1]!) as { name: string; value: number };
      out.push(`${change.name}=${change.value}`);
    }
  }
  return out;
}

/** The watcher's way to the app's bare repository: ssh://, the test's key, known_hosts of the loopback sshd. */
const overSsh = (app: App) => ({ url: `ssh://${sshd!.user}@127.0.0.1:${sshd!.port}${app.remote.dir}`, args: ['--ssh-key', sshd!.clientKey, '--known-hosts', knownHosts] });

/** Stops the git server, both ways in (sshd for the watcher, smart HTTP for Flux); the result starts it again. */
function gitServerDown(): () => void {
  const http = readState(c.dir)?.processes.find((x) => x.name === 'git-http');
  assert.ok(http, 'the flux extra runs its git server as process git-http');
  const pids = [sshd!.pid, http.pid];
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  return () => {
    for (const pid of pids) process.kill(pid, 'SIGCONT');
  };
}

const annotations = async (app: App): Promise<Record<string, string>> => (await c.getJson(['-n', app.ns, 'deployment', app.name])).metadata.annotations ?? {};

/**
 * The end every fault must reach: git holds each latch exactly once, Flux applied git's tip, the Deployment
 * records git's value as declared, and nothing but the HPA ever changed its replicas.
 */
async function endsWell(apps: readonly { app: App; rec: ReplicaWrites }[], want: string[]): Promise<void> {
  const remote = apps[0]!.app.remote;
  await waitFor('every latch in git', async () => (await latchesInGit(remote)).length >= want.length, { timeoutMs: 60_000, intervalMs: 500 });
  await flux.appliedAtHead(apps[0]!.app, 120_000);
  assert.deepEqual(await latchesInGit(remote), want, 'each latch committed exactly once');
  for (const { app, rec } of apps) {
    const declared = /\n {2}replicas: (\d+)\n/.exec(await show(remote, `apps/${app.name}.yaml`))?.[1];
    await waitFor(`${app.name}: declared ${declared}, git's value`, async () => (await loop.declared(app)) === declared, { timeoutMs: 30_000, intervalMs: 500 });
    assert.deepEqual([...new Set(rec.writes.map((x) => x.manager))], [HPA_MANAGER], `${app.name}: ${JSON.stringify(rec.writes)}`);
    assert.equal(rec.current(), 12, `${app.name}: live is the HPA's 12`);
  }
}

test('kube-apiserver restarted while the watcher watches: its watches resume, the next latch is committed once, only the HPA changes replicas', async () => {
  const t0 = Date.now();
  const { app, rec, cpu } = await steadyApp('f-apiserver');
  const w = await loop.watcher(app);
  const tr = Date.now();
  await restart({ dir: c.dir, component: 'kube-apiserver', progress: () => {} });
  const restartSeconds = (Date.now() - tr) / 1000;
  assert.equal(w.exit(), undefined, 'the watcher outlives the apiserver restart');
  await toTwelve(app, rec, cpu);
  await endsWell([{ app, rec }], [`${app.name}=10`]);
  assert.equal(w.exit(), undefined);
  process.stdout.write(`# fault kube-apiserver restart (${restartSeconds.toFixed(1)} s until /readyz): then HPA 4 → 12, watcher commits ${JSON.stringify(await latchesInGit(app.remote))}, replica writes ${JSON.stringify(rec.byManager())}, test ${secs(t0)}\n`);
});

test('SIGTERM to the watcher while its write hangs on a stopped git server: it finishes the write and exits 0; its successor writes nothing more; the latch is in git once', async () => {
  const t0 = Date.now();
  const { app, rec, cpu } = await steadyApp('f-sigterm');
  const w1 = await loop.watcher(app, { repo: overSsh(app) });
  const seed = await head(app.remote);
  const serverUp = gitServerDown();
  let stopping;
  let termAt = 0;
  try {
    await toTwelve(app, rec, cpu);
    await w1.waitForLog('the latch due', (l) => l.msg === 'latch due', 60_000);
    // batch window 1 s: the push is under way, waiting on the stopped server
    await sleep(3_000);
    assert.equal(await head(app.remote), seed, 'nothing landed yet');
    termAt = Date.now();
    stopping = w1.stop('SIGTERM', 90_000);
    await sleep(2_000);
    assert.equal(w1.exit(), undefined, 'the watcher waits for the push in flight');
  } finally {
    serverUp();
  }
  const exit = await stopping;
  const exitSeconds = (Date.now() - termAt) / 1000;
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  assert.deepEqual(await latchesInGit(app.remote), [`${app.name}=10`], 'the push in flight landed before the exit');
  // Its successor finds the latch in git: nothing is written again.
  const w2 = await loop.watcher(app, { repo: overSsh(app) });
  await endsWell([{ app, rec }], [`${app.name}=10`]);
  await sleep(5_000);
  assert.deepEqual(await latchesInGit(app.remote), [`${app.name}=10`]);
  assert.equal(w2.exit(), undefined);
  process.stdout.write(`# fault SIGTERM mid-write (git server stopped 2 s after it): exit ${exit.code} ${exitSeconds.toFixed(1)} s after SIGTERM, once the write landed; successor wrote nothing; watcher commits ${JSON.stringify(await latchesInGit(app.remote))}, replica writes ${JSON.stringify(rec.byManager())}, test ${secs(t0)}\n`);
});

test('leader killed with a batch pending: the standby takes the Lease, fetches git (a human’s newer commit) and writes the batch once, on top of it', async () => {
  const t0 = Date.now();
  const [a, b] = await flux.kustomizationOf(['f-lead-a', 'f-lead-b'], { replicas: 4, optIn: true, min: 2, max: 20 });
  const [ra, rb] = await Promise.all([loop.record(a!), loop.record(b!)]);
  await flux.appliedAtHead(a!);
  const cpus = [loop.load(a!, 190), loop.load(b!, 190)];
  // A batch window of 30 s: the latches of both workloads (due within seconds of each other) wait in the leader's batch.
  const leader = await loop.watcher(a!, { id: 'one', batchWindow: 30 });
  await waitFor('the first watcher to lead', () => leader.isLeader(), { timeoutMs: 30_000, intervalMs: 250 });
  const standby = await loop.watcher(a!, { id: 'two', batchWindow: 30 });
  assert.equal(await standby.isLeader(), false);
  // A human's commit after the standby cloned: it must fetch before it writes, and keep this commit.
  const human = await pushFiles(a!.remote, { 'OWNERS': 'team-a\n' }, 'OWNERS: team-a');
  cpus.forEach((l) => l.set(590));
  await Promise.all([[a!, ra], [b!, rb]].map(([app, r]) => waitFor('the HPA to move to 12', () => (r as ReplicaWrites).current() === 12, { timeoutMs: 120_000, intervalMs: 200 })));
  for (const app of [a!, b!]) await leader.waitForLog(`${app.name}'s latch due`, (l) => l.msg === 'latch due' && String(l['workload']).endsWith(`/${app.name}`), 60_000);
  const killedAt = Date.now();
  await leader.stop('SIGKILL');
  assert.equal(await head(a!.remote), human, 'the leader died before its batch was written');
  await waitFor('the standby to take the Lease', () => standby.isLeader(), { timeoutMs: 60_000, intervalMs: 250 });
  const tookOver = (Date.now() - killedAt) / 1000;
  await endsWell([{ app: a!, rec: ra }, { app: b!, rec: rb }], [`${a!.name}=10`, `${b!.name}=10`]);
  const [latch, parent] = await commits(a!.remote);
  assert.equal(parent!.sha, human, "the standby's commit builds on the human's");
  assert.match(latch!.subject, /^kube-latch: 2 workloads relatched$/);
  assert.equal(await show(a!.remote, 'OWNERS'), 'team-a\n');
  process.stdout.write(`# fault leader failover: standby leads ${tookOver.toFixed(1)} s after SIGKILL of the leader, one commit "${latch!.subject}" on the human's, latches ${JSON.stringify(await latchesInGit(a!.remote))}, replica writes ${JSON.stringify({ a: ra.byManager(), b: rb.byManager() })}, test ${secs(t0)}\n`);
});

test('git server down for two minutes while a latch is due: nothing lands, Flux keeps the last revision and nothing resets replicas; after it returns the latch is committed once', async () => {
  const t0 = Date.now();
  const { app, rec, cpu } = await steadyApp('f-gitdown');
  const w = await loop.watcher(app, { repo: overSsh(app) });
  const seed = await head(app.remote);
  const serverUp = gitServerDown();
  const downAt = Date.now();
  try {
    await toTwelve(app, rec, cpu);
    await w.waitForLog('the latch due', (l) => l.msg === 'latch due', 60_000);
    await waitFor('two minutes of outage', () => Date.now() - downAt >= 120_000, { timeoutMs: 125_000, intervalMs: 1000 });
    assert.equal(await head(app.remote), seed);
    assert.equal(await loop.declared(app), '4', 'Flux still applies the last revision');
  } finally {
    serverUp();
  }
  const upAt = Date.now();
  await waitFor('the latch in git', async () => (await head(app.remote)) !== seed, { timeoutMs: 240_000, intervalMs: 500 });
  const landed = (Date.now() - upAt) / 1000;
  await endsWell([{ app, rec }], [`${app.name}=10`]);
  const failures = w.logs().filter((l) => /^git (write|fetch) failed$/.test(String(l.msg)));
  process.stdout.write(`# fault git server down 120 s (SIGSTOP): ${failures.length} failed git attempts logged (${[...new Set(failures.map((l) => l.msg))].join(', ')}), latch landed ${landed.toFixed(1)} s after it returned, watcher commits ${JSON.stringify(await latchesInGit(app.remote))}, replica writes ${JSON.stringify(rec.byManager())}, test ${secs(t0)}\n`);
});

test('source-controller serving the artifact from before the watcher’s push: Flux applies git’s old 4 again, live 12 and the marker are kept; the new artifact then lands as declared', async () => {
  const t0 = Date.now();
  const { app, rec, cpu } = await steadyApp('f-oldart');
  await loop.watcher(app);
  const seed = await head(app.remote);
  // spec.suspend: source-controller stops fetching and keeps serving its last artifact (git's 4).
  const suspend = (on: boolean) => c.kubectl(['patch', '-n', FLUX_NAMESPACE, 'gitrepository', app.ns, '--type=merge', '-p', JSON.stringify({ spec: { suspend: on } })]);
  await suspend(true);
  await toTwelve(app, rec, cpu);
  await waitFor("the watcher's push", async () => (await head(app.remote)) !== seed, { timeoutMs: 90_000, intervalMs: 500 });
  await waitFor('the marker latched 10', async () => (await annotations(app))[LATCHED] === '10', { timeoutMs: 30_000, intervalMs: 250 });
  // Flux reconciles the older artifact: on request now, and every 10 s.
  const staleFrom = Date.now();
  await c.kubectl(['annotate', '-n', FLUX_NAMESPACE, '--overwrite', 'kustomization', app.ns, `reconcile.fluxcd.io/requestedAt=${staleFrom}`]);
  await waitFor('30 s of the older artifact', () => Date.now() - staleFrom >= 30_000, { timeoutMs: 35_000, intervalMs: 1000 });
  const k = await flux.ks(app);
  assert.ok(k.applied.endsWith(seed), `Flux still applies the old revision: ${k.applied}`);
  assert.equal(k.ready, 'True');
  const held = await annotations(app);
  assert.equal(held[ANNOTATIONS.declared], '4');
  assert.equal(held[LATCHED], '10', 'the marker is kept while the applier holds the older commit');
  await suspend(false);
  await endsWell([{ app, rec }], [`${app.name}=10`]);
  assert.equal((await annotations(app))[LATCHED], undefined, 'git caught up: the marker is gone');
  process.stdout.write(`# fault older artifact (GitRepository suspended across the push, 30 s of reconciles at ${seed.slice(0, 7)}): declared 4 and marker 10 kept, then applied at the tip; watcher commits ${JSON.stringify(await latchesInGit(app.remote))}, replica writes ${JSON.stringify(rec.byManager())}, test ${secs(t0)}\n`);
});
