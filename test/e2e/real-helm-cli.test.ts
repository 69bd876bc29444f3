// The Helm CLI against a real HPA (issue 26): `helm upgrade` with Helm 3 (the control plane's helm
// v3.21.4: a client-side three-way merge patch) and with Helm 4 (v4.3.2, built by build-tools.sh helm4:
// server-side apply). Each installs the loop's chart from a checkout of a bare git repository twice, one
// release opted in and one not; the HPA moves inside the band; an operator runs `helm upgrade` from git.
// Then the watcher latches values.yaml in that repository, and the operator's next upgrade from the pulled
// checkout is git catching up. Every change of spec.replicas is recorded with its manager. Figures are
// printed as `# …` lines; docs/e2e.md has them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commits, createRemote, git, head, show } from '../../src/demo/git.ts';
import { runBuildScript } from '../../src/devcluster/toolchain.ts';
import { waitFor, type RunResult, type TestCluster } from './helpers/cluster.ts';
import { chartFiles, HPA_MANAGER, startRealLoop, type App, type LoopHarness, type RealLoop } from './helpers/loop.ts';
import type { ReplicaWrite, ReplicaWrites } from './helpers/replica-writes.ts';

/** the field manager both Helm 3's patches and Helm 4's applies write with */
const HELM_MANAGER = 'helm';

let c: TestCluster;
let loop: LoopHarness;
let real: RealLoop | undefined;
let helm4 = '';

before(async () => {
  real = await startRealLoop('real-helm-cli', ['metrics']);
  ({ c, loop } = real);
  const [dir] = await runBuildScript('build-tools.sh', ['helm4'], () => {});
  helm4 = join(dir!, 'helm4');
});

after(async () => {
  await real?.stop();
});

interface Cli {
  label: string;
  run(args: string[]): Promise<RunResult>;
  /** flags of every install and upgrade */
  flags: string[];
}

const helm3: Cli = { label: 'Helm 3', run: (a) => c.helm(a, { allowFail: true }), flags: [] };
const helm4Cli = (): Cli => ({ label: 'Helm 4', run: (a) => c.helm(a, { allowFail: true, binary: helm4 }), flags: ['--server-side=true'] });

interface Release extends App {
  /** the operator's clone of the remote: helm installs charts/NAME from here */
  checkout: string;
}

/** A namespace, a bare repository holding the chart, the operator's clone, and `helm install` from it. */
async function install(cli: Cli, name: string, o: { replicas: number; optIn: boolean; min: number; max: number }): Promise<Release> {
  const ns = await c.namespace(name, real!.suiteLabel);
  const remote = await createRemote(join(c.dir, 'helm-cli', `${ns}.git`), chartFiles(name, ns, o));
  const checkout = join(c.dir, 'helm-cli', ns);
  await git(join(c.dir, 'helm-cli'), ['clone', '-q', '-b', remote.branch, remote.dir, checkout]);
  const r = await cli.run(['install', name, join(checkout, 'charts', name), '-n', ns, ...cli.flags]);
  assert.equal(r.code, 0, `${cli.label} install: ${r.stderr}`);
  return { name, ns, remote, checkout };
}

/** `git pull`, then `helm upgrade` of the release from the checkout. */
async function upgrade(cli: Cli, rel: Release, extra: string[] = []): Promise<RunResult> {
  await git(rel.checkout, ['pull', '-q', '--ff-only']);
  return cli.run(['upgrade', rel.name, join(rel.checkout, 'charts', rel.name), '-n', rel.ns, ...cli.flags, ...extra]);
}

/** from an upgrade until 20 s after it */
interface Window {
  from: number;
  to: number;
}

const since = (r: ReplicaWrites, t: number): ReplicaWrite[] => r.writes.filter((x) => x.at >= t);
const within = (r: ReplicaWrites, w: Window): ReplicaWrite[] => r.writes.filter((x) => x.at >= w.from && x.at < w.to);
const path = (ws: readonly ReplicaWrite[]): string => ws.map((x) => `${x.from}→${x.to} (${x.manager})`).join(', ') || '(none)';
const firstLine = (r: RunResult): string => (r.stderr.trim().split('\n').find((l) => l.startsWith('Error:')) ?? r.stderr.trim().split('\n').pop() ?? '').slice(0, 240);

/** 20 s after an upgrade: long enough for the HPA to have answered a reset with its own write. */
const settle = (t: number): Promise<unknown> => waitFor('20 s after the upgrade', () => Date.now() - t >= 20_000, { timeoutMs: 25_000, intervalMs: 500 });

/**
 * The shared run: both releases at 4 in git, the HPA at 6 (inside band 2-8), `helm upgrade` of the unchanged
 * chart (each `attempts` entry is one upgrade's extra flags). Then the HPA to 12, the watcher's latch 4 → 10
 * in values.yaml, and the operator's upgrade from the pulled checkout (with the last attempt's flags).
 */
async function helmLoop(cli: Cli, attempts: string[][]): Promise<{ results: RunResult[][]; bare: ReplicaWrites; latched: ReplicaWrites; windows: Window[] }> {
  const o = { replicas: 4, min: 2, max: 20 };
  const tag = cli === helm3 ? 'h3' : 'h4';
  const [bare, latched] = await Promise.all([install(cli, `${tag}-bare`, { ...o, optIn: false }), install(cli, `${tag}-latched`, { ...o, optIn: true })]);
  const [rBare, rLatched] = await Promise.all([loop.record(bare, 'helm'), loop.record(latched, 'helm')]);
  const cpus = [loop.load(bare, 290), loop.load(latched, 290)];
  await loop.watcher(latched);
  await Promise.all([rBare, rLatched].map((r) => waitFor('the HPA to move to 6', () => r.current() === 6, { timeoutMs: 120_000, intervalMs: 200 })));
  const seed = await head(latched.remote);

  const results: RunResult[][] = [];
  const windows: Window[] = [];
  for (const extra of attempts) {
    // The HPA has answered any earlier reset before the next upgrade.
    await Promise.all([rBare, rLatched].map((r) => waitFor('the HPA back at 6', () => r.current() === 6, { timeoutMs: 120_000, intervalMs: 200 })));
    const t = Date.now();
    results.push(await Promise.all([upgrade(cli, bare, extra), upgrade(cli, latched, extra)]));
    await settle(t);
    windows.push({ from: t, to: Date.now() });
  }
  assert.equal(await head(latched.remote), seed, 'no commit inside the band');

  // Out of the band: the watcher latches values.yaml to 10; the operator pulls and upgrades; live stays the HPA's 12.
  cpus[1]!.set(590);
  await waitFor('the HPA to move the latched release to 12', () => rLatched.current() === 12, { timeoutMs: 120_000, intervalMs: 200 });
  await waitFor("the watcher's commit", async () => (await head(latched.remote)) !== seed, { timeoutMs: 90_000, intervalMs: 500 });
  assert.match(await show(latched.remote, `charts/${latched.name}/values.yaml`), new RegExp(`^replicas: 10 # kube-latch: ${latched.ns}/Deployment/${latched.name}\\n$`));
  const t = Date.now();
  const caughtUp = await upgrade(cli, latched, attempts[attempts.length - 1]);
  assert.equal(caughtUp.code, 0, `${cli.label} upgrade to the latched values: ${caughtUp.stderr}`);
  await waitFor('the upgrade to record declared 10', async () => (await loop.declared(latched)) === '10', { timeoutMs: 30_000, intervalMs: 500 });
  await settle(t);
  assert.equal(rLatched.current(), 12, 'live kept across git catching up');
  assert.deepEqual(since(rLatched, t), [], 'the catching-up upgrade changed no replicas');
  const latches = (await commits(latched.remote)).filter((x) => x.subject.startsWith('kube-latch:'));
  assert.equal(latches.length, 1, JSON.stringify(latches.map((x) => x.subject)));
  // Across the whole run, only the HPA changed the opted-in release's replicas.
  assert.deepEqual([...new Set(rLatched.writes.map((x) => x.manager))], [HPA_MANAGER], JSON.stringify(rLatched.writes));
  return { results, bare: rBare, latched: rLatched, windows };
}

test('Helm 3 `helm upgrade` (three-way merge patch) while the HPA is at 6, git at 4: resets 6 → 4 without kube-latch, keeps 6 with it; the upgrade to the watcher’s latched values keeps 12', async () => {
  const t0 = Date.now();
  const { results, bare, latched, windows } = await helmLoop(helm3, [[]]);
  const [[upBare, upLatched]] = results as [[RunResult, RunResult]];
  assert.equal(upBare.code, 0, upBare.stderr);
  assert.equal(upLatched.code, 0, upLatched.stderr);
  const [w] = windows as [Window];
  process.stdout.write(`# Helm 3 ${((Date.now() - t0) / 1000).toFixed(0)} s, git declares 4, HPA at 6, \`helm upgrade\` of the unchanged chart, 20 s after:\n`);
  process.stdout.write(`# before (no kube-latch): ${path(within(bare, w))}\n# after (kube-latch): ${path(within(latched, w))}; then HPA → 12, watcher latched values.yaml 4 → 10, upgrade from the pulled checkout: declared 10, live 12, writes by manager over the run ${JSON.stringify(latched.byManager())}\n`);
  // Before: the patch carries git's 4 (live 6 differs from the chart), then the HPA raises it again.
  assert.ok(within(bare, w).some((x) => x.from === 6 && x.to === 4 && x.manager === HELM_MANAGER), `helm upgrade reset 6 → 4: ${JSON.stringify(bare.writes)}`);
  // After: rule unchanged (the patch declares 4 = declared), live 6 kept.
  assert.deepEqual(within(latched, w), []);
});

test('Helm 4 `helm upgrade` (server-side apply) while the HPA is at 6: a conflict on .spec.replicas with or without kube-latch; with --force-conflicts it resets 6 → 4 without kube-latch and keeps 6 with it', async () => {
  const t0 = Date.now();
  const cli = helm4Cli();
  const { results, bare, latched, windows } = await helmLoop(cli, [[], ['--force-conflicts']]);
  const [[plainBare, plainLatched], [forcedBare, forcedLatched]] = results as [[RunResult, RunResult], [RunResult, RunResult]];
  const [plain, forced] = windows as [Window, Window];
  process.stdout.write(`# Helm 4 ${((Date.now() - t0) / 1000).toFixed(0)} s, git declares 4, HPA at 6:\n`);
  process.stdout.write(`# \`helm upgrade\` (no --force-conflicts): before (no kube-latch) exit ${plainBare.code}: ${firstLine(plainBare)}; after (kube-latch) exit ${plainLatched.code}: ${firstLine(plainLatched)}\n`);
  process.stdout.write(`# \`helm upgrade --force-conflicts\`, 20 s after: before (no kube-latch): ${path(within(bare, forced))}; after (kube-latch): ${path(within(latched, forced))}\n`);
  process.stdout.write(`# then HPA → 12, watcher latched values.yaml 4 → 10, \`helm upgrade --force-conflicts\` from the pulled checkout: declared 10, live 12, writes by manager over the run ${JSON.stringify(latched.byManager())}\n`);
  // The HPA's /scale write owns spec.replicas; an apply of the chart's replicas conflicts before admission runs,
  // so kube-latch cannot prevent the failed upgrade: it changes nothing either way.
  for (const r of [plainBare, plainLatched]) {
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /conflict with "kube-controller-manager" with subresource "scale"[^\n]*\.spec\.replicas/);
  }
  assert.deepEqual(within(bare, plain), []);
  assert.deepEqual(within(latched, plain), []);
  // Forced: without kube-latch the apply takes replicas back to 4; with it, rule unchanged keeps 6.
  assert.equal(forcedBare.code, 0, forcedBare.stderr);
  assert.equal(forcedLatched.code, 0, forcedLatched.stderr);
  assert.ok(within(bare, forced).some((x) => x.from === 6 && x.to === 4 && x.manager === HELM_MANAGER), `forced upgrade reset 6 → 4: ${JSON.stringify(bare.writes)}`);
  assert.deepEqual(within(latched, forced), []);
});
