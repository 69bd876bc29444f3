// `kube-latch status` (and `kubectl latch status`) on a real control plane (dev cluster): a local git repo
// of manifests and the workloads applied from it, scaled through /scale (as an HPA does) into and out of
// their band, one whose latch the watcher has proposed (kube-latch.io/latched, as after a PR update), one
// declared twice, one with a typo in its policy, one git does not know, one the bounds hold; a latch
// commit in git's history; a second namespace. Every state, the filters, -o json|yaml, the exit codes,
// colour on a real terminal (tmux) and the kubectl plugin.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_SETTLE_DOWN } from '../../src/latch/index.ts';
import { webhookCounters } from './helpers/apiserver.ts';
import { run, startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-status-e2e-'));
const repo = join(tmp, 'gitops');
let c: TestCluster;
let ns = '';
let other = '';
/** the HPA's status.lastScaleTime for surge: its /scale write, the one the settle time counts from */
let surgeScaledAt = 0;

/** a tmux server of our own (-L), never a developer's */
const TMUX = `kube-latch-status-e2e-${process.pid}`;
const LAST_LATCH = '2026-11-30T10:00:00+00:00';
const gitEnv = { GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.test', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.test' };
const git = (args: string[], env: Record<string, string> = {}) => execFileSync('git', args, { cwd: repo, env: { ...process.env, ...gitEnv, ...env }, encoding: 'utf8' }).trim();

function workload(namespace: string, name: string, replicas: number, annotations: Record<string, string> = {}): string {
  const ann = Object.keys(annotations).length ? `\n  annotations:\n${Object.entries(annotations).map(([k, v]) => `    ${k}: "${v}"`).join('\n')}` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app: ${name}
    kube-latch.io/enabled: "true"${ann}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
      app: ${name}
  template:
    metadata:
      labels:
        app: ${name}
    spec:
      containers:
        - name: app
          image: example.invalid/app:1
`;
}

function write(rel: string, text: string): void {
  mkdirSync(join(repo, rel, '..'), { recursive: true });
  writeFileSync(join(repo, rel), text);
}

function status(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [MAIN, 'status', '--kubeconfig', c.kubeconfig, '--repo', repo, ...args], { allowFail: true, env: { NO_COLOR: '', ...env }, timeoutMs: 120_000 });
}

interface Row {
  namespace: string;
  name: string;
  state: string;
  live: number;
  declared: number | null;
  band: { lo: number; hi: number } | null;
  latchTo: number | null;
  dueInSeconds: number | null;
  location: string | null;
  candidates: string[];
  lastLatch: string | null;
}

before(async () => {
  c = await startCluster({ nodes: 1 });
  ns = await c.namespace('status');
  other = await c.namespace('status-other');

  mkdirSync(repo, { recursive: true });
  git(['init', '-q', '-b', 'main']);
  write('apps/web.yaml', workload(ns, 'web', 10)); //            in band
  write('apps/surge.yaml', workload(ns, 'surge', 5)); //         above the band: latch due in N s
  write('apps/shrunk.yaml', workload(ns, 'shrunk', 20)); //      below the band: due after settle-down
  write('apps/search.yaml', workload(ns, 'search', 20)); //      latched 50, not in git yet: pending PR
  write('apps/capped.yaml', workload(ns, 'capped', 5, { 'kube-latch.io/max-replicas': '5' })); // held
  write('apps/typo.yaml', workload(ns, 'typo', 2, { 'kube-latch.io/tolerance': '1.1' })); //       invalid policy
  write('apps/twin.yaml', workload(ns, 'twin', 2));
  write('copy/twin.yaml', workload(ns, 'twin', 2)); //           ambiguous
  write('apps/other.yaml', workload(other, 'web', 3));
  git(['add', '-A']);
  git(['commit', '-q', '-m', 'manifests']);
  // The watcher's own commit for web, at a known time: LAST LATCH.
  write('apps/web.yaml', `${workload(ns, 'web', 10)}# latched by kube-latch\n`);
  git(['commit', '-q', '-am', `kube-latch: ${ns}/Deployment/web replicas 5 → 10`, '-m', `${ns}/Deployment/web: live 9, old band 3-10, new 10 (was 5) at apps/web.yaml:10`], { GIT_COMMITTER_DATE: LAST_LATCH });

  for (const f of ['web', 'surge', 'shrunk', 'search', 'capped', 'typo', 'twin', 'other']) await c.kubectl(['apply', '-f', join(repo, 'apps', `${f}.yaml`)]);
  await c.apply(workload(ns, 'ghost', 1)); // unlocated
  const scale = (what: string, n: number) => c.kubectl(['scale', '-n', ns, what, `--replicas=${n}`]);
  await scale('deployment/web', 7); //      band(10) = 5-20
  // surge is scaled by its HPA, as in production: 20 is above its max 12, so the HPA controller writes 12
  // through /scale (no metrics needed) and records lastScaleTime. band(5) = 3-10: above → latch(12) = 10.
  await c.apply({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'surge', namespace: ns },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'surge' }, minReplicas: 1, maxReplicas: 12 },
  });
  await scale('deployment/surge', 20);
  await scale('deployment/shrunk', 4); //   band(20) = 10-40: below → latch(4) = 5
  await scale('deployment/search', 47); //  above band(20); the watcher latched 50
  await scale('deployment/capped', 12); //  max-replicas 5 = declared: held
  // As the watcher does after a PR update (DESIGN §4), with its own field manager.
  await c.kubectl(['annotate', '-n', ns, 'deployment/search', 'kube-latch.io/latched=50', '--field-manager=kube-latch-watcher']);
  await waitFor('the HPA to scale surge to 12', async () => (await c.getJson(['-n', ns, 'deployment/surge'])).spec.replicas === 12, { timeoutMs: 90_000 });
  const hpa = await waitFor('lastScaleTime on the HPA', async () => (await c.getJson(['-n', ns, 'hpa/surge'])).status?.lastScaleTime as string | undefined, { timeoutMs: 30_000 });
  surgeScaledAt = Date.parse(hpa);
});

after(async () => {
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('kube-latch status on dev-cluster', () => {
  let rows: Record<string, Row> = {};
  /** the largest "due in" the surge row may show, had the settle time started at the /scale write */
  let surgeBound = 600;
  let doc: { version: string; exitCode: number; summary: Record<string, number>; workloads: Row[] };

  test('-o json -n NS: one row per opted-in workload, every state, exit 1', async () => {
    // Let a few seconds pass since the HPA's /scale write, so that "due in" shows it counts from that write.
    await waitFor('3 s since the scale', async () => Date.now() - surgeScaledAt >= 3000, { timeoutMs: 10_000 });
    const elapsedAtLeast = Math.floor((Date.now() - surgeScaledAt) / 1000);
    const r = await status(['-n', ns, '-o', 'json', '--settle-up', '600']);
    assert.equal(r.code, 1, r.stderr);
    doc = JSON.parse(r.stdout);
    assert.equal(doc.version, 'kube-latch.io/status/v1');
    rows = Object.fromEntries(doc.workloads.map((w) => [w.name, w]));
    surgeBound = 600 - elapsedAtLeast + 1;
    assert.deepEqual(doc.workloads.map((w) => w.name), ['capped', 'ghost', 'search', 'shrunk', 'surge', 'twin', 'typo', 'web'], 'sorted; only the namespace asked for');
    assert.deepEqual(doc.summary, { workloads: 8, 'in-band': 1, 'latch-due': 2, 'pending-pr': 1, 'out-of-band': 1, unlocated: 1, ambiguous: 1, 'invalid-policy': 1 });
  });

  test('in band, with the file:line and the last latch from git log', () => {
    assert.deepEqual(
      { ...rows['web'], namespace: undefined },
      { namespace: undefined, kind: 'Deployment', name: 'web', state: 'in-band', live: 7, declared: 10, band: { lo: 5, hi: 20 }, latchTo: null, dueInSeconds: null, location: 'apps/web.yaml:10', candidates: [], lastLatch: LAST_LATCH, detail: null },
    );
  });

  test('latch due in N s: the settle time counted from the /scale write', () => {
    const s = rows['surge']!;
    assert.equal(s.state, 'latch-due');
    assert.equal(s.latchTo, 10);
    assert.ok(s.dueInSeconds! > 400 && s.dueInSeconds! <= surgeBound, `due in ${s.dueInSeconds} s of a 600 s settle-up, at most ${surgeBound} s (counted from the write, not from now)`);
    const d = rows['shrunk']!;
    assert.equal(d.latchTo, 5);
    assert.ok(d.dueInSeconds! > DEFAULT_SETTLE_DOWN - 200 && d.dueInSeconds! <= DEFAULT_SETTLE_DOWN, `below the band waits the default settle-down (${DEFAULT_SETTLE_DOWN} s): ${d.dueInSeconds}`);
  });

  test('pending PR, held, ambiguous, unlocated, invalid policy', () => {
    assert.deepEqual([rows['search']!.state, rows['search']!.latchTo, rows['search']!.declared], ['pending-pr', 50, 20]);
    assert.equal(rows['capped']!.state, 'out-of-band');
    assert.deepEqual([rows['twin']!.state, rows['twin']!.candidates], ['ambiguous', ['apps/twin.yaml:10', 'copy/twin.yaml:10']]);
    assert.deepEqual([rows['ghost']!.state, rows['ghost']!.location], ['unlocated', null]);
    assert.equal(rows['typo']!.state, 'invalid-policy');
  });

  test('--settle-up 0: latch due now', async () => {
    const r = await status(['-n', ns, '-o', 'json', '--settle-up', '0', '--state', 'latch-due']);
    const got = Object.fromEntries(JSON.parse(r.stdout).workloads.map((w: Row) => [w.name, w.dueInSeconds]));
    assert.deepEqual(Object.keys(got), ['shrunk', 'surge']);
    assert.equal(got['surge'], 0);
    assert.ok(got['shrunk'] > DEFAULT_SETTLE_DOWN - 200, 'settle-down is still the default');
  });

  test('the table, without colour when piped', async () => {
    const r = await status(['-n', ns, '--settle-up', '600']);
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    const line = (name: string) => r.stdout.split('\n').find((l) => l.split(/\s+/)[2] === name)?.split(/\s{2,}/);
    assert.deepEqual(line('web'), [ns, 'Deployment', 'web', '7', '10', '5-20', 'in band', 'apps/web.yaml:10', LAST_LATCH]);
    assert.match(line('surge')![6]!, /^latch due in \d+ s$/);
    assert.deepEqual(line('search')!.slice(6), ['pending PR (50)', 'apps/search.yaml:10', '-']);
    assert.deepEqual(line('twin')!.slice(6), ['ambiguous location', 'apps/twin.yaml:10,copy/twin.yaml:10', '-']);
    assert.deepEqual(line('typo')!.slice(6, 7), ['invalid policy']);
  });

  test('-o yaml is the JSON document', async () => {
    const [y, j] = await Promise.all([status(['-n', ns, '-o', 'yaml', '--state', 'in-band']), status(['-n', ns, '-o', 'json', '--state', 'in-band'])]);
    assert.deepEqual(parseYaml(y.stdout), JSON.parse(j.stdout));
  });

  test('--state in-band: only web, exit 0; -A adds the other namespace', async () => {
    const only = await status(['-n', ns, '-o', 'json', '--state', 'in-band']);
    assert.equal(only.code, 0, only.stderr);
    assert.deepEqual(JSON.parse(only.stdout).workloads.map((w: Row) => w.name), ['web']);
    const all = await status(['-A', '-o', 'json', '--state', 'in-band']);
    assert.equal(all.code, 0);
    assert.deepEqual(JSON.parse(all.stdout).workloads.map((w: Row) => `${w.namespace}/${w.name}`), [`${ns}/web`, `${other}/web`].sort());
  });

  test('exit 2: -n with -A, an unknown state, a repo that is not there', async () => {
    for (const [args, msg] of [
      [['-n', ns, '-A'], /exclude each other/],
      [['--state', 'fine'], /--state must be one of/],
      [['-o', 'wide'], /-o\/--output must be one of/],
    ] as const) {
      const r = await status([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1);
    }
    const gone = await run(process.execPath, [MAIN, 'status', '--kubeconfig', c.kubeconfig, '--repo', join(tmp, 'nope.git')], { allowFail: true });
    assert.equal(gone.code, 2, gone.stderr);
  });

  test('colour on a real terminal (tmux), none with NO_COLOR', async () => {
    const shot = async (noColor: string) => {
      const session = `kl-status-${process.pid}-${noColor ? 'nc' : 'c'}`;
      const cmd = `NO_COLOR=${noColor} ${process.execPath} ${MAIN} status --kubeconfig ${c.kubeconfig} --repo ${repo} -n ${ns} --settle-up 600; sleep 30`;
      execFileSync('tmux', ['-L', TMUX, 'new-session', '-d', '-s', session, '-x', '200', '-y', '30', cmd]);
      try {
        return await waitFor('the table in the pane', async () => {
          const out = execFileSync('tmux', ['-L', TMUX, 'capture-pane', '-p', '-e', '-t', session], { encoding: 'utf8' });
          return out.includes('invalid policy') ? out : undefined;
        }, { timeoutMs: 60_000 });
      } finally {
        execFileSync('tmux', ['-L', TMUX, 'kill-session', '-t', session]);
      }
    };
    const coloured = await shot('');
    assert.match(coloured, /\x1b\[32min band/, 'green in band');
    assert.match(coloured, /\x1b\[36mpending PR \(50\)/);
    const capture = process.env['KUBE_LATCH_STATUS_CAPTURE'];
    if (capture) writeFileSync(capture, coloured); // docs/img/status.png is rendered from it (docs/observability.md)
    assert.doesNotMatch(await shot('1'), /\x1b\[3\dm/);
  });

  test('kubectl latch status: the binary as a kubectl plugin (symlink named kubectl-latch)', async () => {
    const plugins = join(tmp, 'plugins');
    mkdirSync(plugins);
    symlinkSync(MAIN, join(plugins, 'kubectl-latch'));
    const env = { PATH: [plugins, dirname(process.execPath), process.env['PATH']].join(':'), KUBECONFIG: c.kubeconfig };
    const list = await run(join(c.bin, 'kubectl'), ['plugin', 'list'], { env, allowFail: true });
    assert.match(list.stdout, /kubectl-latch/);
    const r = await run(join(c.bin, 'kubectl'), ['latch', 'status', '--repo', repo, '-n', ns, '-o', 'json', '--settle-up', '600'], { env, allowFail: true });
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).summary, doc.summary);
    const bad = await run(join(c.bin, 'kubectl'), ['latch', 'nope'], { env, allowFail: true });
    assert.match(bad.stderr, /^kubectl latch: unknown command "nope"/m);
  });

  test("the apiserver's webhook counters the PrometheusRule alerts on exist, with the labels it uses", async () => {
    // Two webhooks on a closed loopback port: one fails open (Ignore), one fails closed (Fail).
    const hook = (name: string, failurePolicy: string) => ({
      name,
      clientConfig: { url: 'https://127.0.0.1:1/mutate', caBundle: '' },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
      objectSelector: { matchLabels: { 'alert-probe': 'probe' } },
      failurePolicy,
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 2,
    });
    const names = ['fail-open.kube-latch.test', 'fail-closed.kube-latch.test'];
    await c.apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'alert-probe' }, webhooks: [hook(names[0]!, 'Ignore'), hook(names[1]!, 'Fail')] });
    try {
      const probe = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe', namespace: ns, labels: { 'alert-probe': 'probe' } } };
      const r = await c.apply(probe, { allowFail: true });
      assert.notEqual(r.code, 0, 'the fail-closed webhook refuses it');
      const counters = await waitFor('both counters', async () => {
        const w = await webhookCounters(c, names);
        return w.failOpen.length > 0 && w.rejections.length > 0 ? w : undefined;
      });
      assert.ok(counters.failOpen.some((s) => s.labels['name'] === names[0] && s.value >= 1), JSON.stringify(counters.failOpen));
      assert.ok(counters.rejections.some((s) => s.labels['name'] === names[1] && s.labels['error_type'] !== undefined), JSON.stringify(counters.rejections));
    } finally {
      await c.kubectl(['delete', 'mutatingwebhookconfiguration', 'alert-probe']);
    }
  });
});
