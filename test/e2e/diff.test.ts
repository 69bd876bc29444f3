// `kube-latch diff` on a real control plane (dev cluster): a local git repo of manifests, the workloads
// applied from it, some scaled through the /scale subresource (`kubectl scale`, as an HPA does) into and
// out of their band, one that git does not declare, one that git declares twice, one with a typo in its
// policy, a Helm values file with a marker, a Rollout (CRD with a scale subresource), an HPA bounding one,
// and a file that does not parse. Checks rows, states and the exit code; then fixes everything and
// expects exit 0.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { run, startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const ROLLOUT_CRD = join(import.meta.dirname, '../fixtures/crds/rollout.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-diff-e2e-'));
const repo = join(tmp, 'gitops');
let c: TestCluster;
let ns = '';

const gitEnv = { GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.test', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.test' };
const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env: { ...process.env, ...gitEnv }, encoding: 'utf8' }).trim();

function workload(kind: 'Deployment' | 'StatefulSet' | 'Rollout', name: string, replicas: number, o: { annotations?: Record<string, string>; optIn?: boolean } = {}): string {
  const apiVersion = kind === 'Rollout' ? 'argoproj.io/v1alpha1' : 'apps/v1';
  const ann = o.annotations ? `\n  annotations:\n${Object.entries(o.annotations).map(([k, v]) => `    ${k}: "${v}"`).join('\n')}` : '';
  const labels = o.optIn === false ? `\n  labels:\n    app: ${name}` : `\n  labels:\n    app: ${name}\n    kube-latch.io/enabled: "true"`;
  const service = kind === 'StatefulSet' ? `\n  serviceName: ${name}` : '';
  return `apiVersion: ${apiVersion}
kind: ${kind}
metadata:
  name: ${name}
  namespace: ${ns}${labels}${ann}
spec:
  replicas: ${replicas}${service}
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

/** diff's own temp dir (TMPDIR), so that its clones can be counted */
const diffTmp = join(tmp, 'diff-tmp');

function diff(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'diff', '--kubeconfig', c.kubeconfig, '--workload-namespace', ns, ...args], { allowFail: true, env: { NO_COLOR: '', TMPDIR: diffTmp }, timeoutMs: 120_000 });
}

type Row = { name: string; kind: string; state: string; latchTo: number | null; direction: string | null; declared: number | null; live: number; band: { lo: number; hi: number } | null; location: { file: string; line: number; via: string } | null; candidates: string[]; policy: { max: number | null; boundsFrom: string } | null; policyError: { annotation: string } | null; hpa: string | null; detail: string | null };

before(async () => {
  c = await startCluster({ nodes: 2 });
  ns = await c.namespace('diff');
  await c.kubectl(['apply', '--server-side', '--field-manager=kube-latch-test', '-f', ROLLOUT_CRD]);
  await c.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/rollouts.argoproj.io']);

  // The repo: one file per workload under deploy/, a Helm values file with a marker, a second declaration
  // of `twin`, a broken file.
  mkdirSync(repo, { recursive: true });
  mkdirSync(diffTmp);
  git('init', '-q', '-b', 'main');
  write('deploy/web.yaml', workload('Deployment', 'web', 10));
  write('deploy/api.yaml', workload('Deployment', 'api', 5));
  write('deploy/worker.yaml', workload('Deployment', 'worker', 10));
  write('deploy/capped.yaml', workload('Deployment', 'capped', 5, { annotations: { 'kube-latch.io/max-replicas': '5' } }));
  write('deploy/scaled.yaml', workload('Deployment', 'scaled', 5));
  write('deploy/db.yaml', workload('StatefulSet', 'db', 3));
  write('deploy/canary.yaml', workload('Rollout', 'canary', 5));
  write('deploy/typo.yaml', workload('Deployment', 'typo', 2, { annotations: { 'kube-latch.io/ladder': '1-2-3' } }));
  write('deploy/twin.yaml', workload('Deployment', 'twin', 2));
  write('deploy/copy/twin.yaml', workload('Deployment', 'twin', 2));
  write('deploy/plain.yaml', workload('Deployment', 'plain', 2, { optIn: false }));
  write('deploy/values.yaml', `# Helm values for the frontend chart\nfrontend:\n  image: example.invalid/frontend:1\n  replicaCount: 4 # kube-latch: ${ns}/Deployment/frontend\n`);
  write('deploy/broken.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: broken\n  data: [\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'manifests');

  // The cluster: everything git declares (but the copy and the broken file), the chart's frontend, and a
  // ghost that git does not know.
  for (const f of ['web', 'api', 'worker', 'capped', 'scaled', 'db', 'canary', 'typo', 'twin', 'plain']) {
    await c.kubectl(['apply', '-f', join(repo, 'deploy', `${f}.yaml`)]);
  }
  await c.apply(workload('Deployment', 'frontend', 4));
  await c.apply(workload('Deployment', 'ghost', 1));
  await c.apply({
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'scaled', namespace: ns },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'scaled' }, minReplicas: 1, maxReplicas: 12 },
  });

  // The HPA's way of scaling: the /scale subresource.
  const scale = (what: string, n: number) => c.kubectl(['scale', '-n', ns, what, `--replicas=${n}`]);
  await scale('deployment/web', 7); //     band(10) = 5-20: in band
  await scale('deployment/api', 12); //    band(5) = 3-10: above → latch(12) = 10
  await scale('deployment/worker', 2); //  band(10) = 5-20: below → latch(2) = 2
  await scale('deployment/capped', 12); // above, but max-replicas 5 = declared
  await scale('deployment/scaled', 12); // above; HPA max 12 bounds it, latch(12) = 10
  await scale('statefulset/db', 5); //     band(3) = 2-6: in band
  await scale('rollout/canary', 4); //     band(5) = 3-10: in band
  const live = async (what: string) => (await c.getJson(['-n', ns, what])).spec.replicas as number;
  await waitFor('scaled to 12 and left there by its HPA', async () => (await live('deployment/scaled')) === 12);
});

after(async () => {
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('kube-latch diff on dev-cluster', () => {
  let rows: Record<string, Row> = {};
  let doc: { exitCode: number; summary: Record<string, number>; brokenFiles: { file: string; error: string }[]; workloads: Row[]; repo: { revision: string } };

  test('--json: one row per opted-in workload, with its state, and exit 1', async () => {
    const r = await diff(['--repo', repo, '--path', 'deploy', '--json']);
    assert.equal(r.code, 1, r.stderr);
    doc = JSON.parse(r.stdout);
    rows = Object.fromEntries(doc.workloads.map((w) => [w.name, w]));
    assert.deepEqual(Object.keys(rows).sort(), ['api', 'canary', 'capped', 'db', 'frontend', 'ghost', 'scaled', 'twin', 'typo', 'web', 'worker'], 'plain is not opted in');
    assert.equal(doc.exitCode, 1);
    assert.equal(doc.repo.revision, git('rev-parse', 'HEAD'));
    assert.deepEqual(doc.summary, { workloads: 11, inBand: 4, latchDue: 3, outOfBand: 1, unlocated: 1, ambiguous: 1, invalidPolicy: 1 });
  });

  const expect: Record<string, Partial<Row>> = {
    web: { state: 'in-band', declared: 10, live: 7, band: { lo: 5, hi: 20 }, location: { file: 'deploy/web.yaml', line: 10, via: 'discovery' } },
    api: { state: 'latch-due', latchTo: 10, direction: 'up', declared: 5, live: 12, band: { lo: 3, hi: 10 } },
    worker: { state: 'latch-due', latchTo: 2, direction: 'down', declared: 10, live: 2 },
    capped: { state: 'out-of-band', latchTo: null, direction: 'up', declared: 5, live: 12 },
    scaled: { state: 'latch-due', latchTo: 10, live: 12, hpa: 'scaled' },
    db: { state: 'in-band', kind: 'StatefulSet', declared: 3, live: 5, band: { lo: 2, hi: 6 } },
    canary: { state: 'in-band', kind: 'Rollout', declared: 5, live: 4 },
    frontend: { state: 'in-band', declared: 4, live: 4, location: { file: 'deploy/values.yaml', line: 4, via: 'marker' } },
    ghost: { state: 'unlocated', declared: null, band: null, location: null },
    twin: { state: 'ambiguous', declared: null, candidates: ['deploy/copy/twin.yaml:10', 'deploy/twin.yaml:10'] },
    typo: { state: 'invalid-policy', declared: 2, band: null },
  };
  for (const [name, want] of Object.entries(expect)) {
    test(`row ${name}: ${want.state}`, () => {
      const row = rows[name];
      assert.ok(row, `no row for ${name}`);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(row[k as keyof Row], v, `${name}.${k}`);
    });
  }

  test('details: the downward caveat, the clamp, the policy error, HPA bounds', () => {
    assert.match(rows['worker']!.detail!, /peak .* diff cannot see/);
    assert.match(rows['capped']!.detail!, /max-replicas 5 clamps latch\(12\) = 10 to 5, which git already declares/);
    assert.equal(rows['typo']!.policyError!.annotation, 'kube-latch.io/ladder');
    assert.deepEqual(rows['scaled']!.policy, { ladder: '1-2-5', tolerance: '2', min: 1, max: 12, boundsFrom: 'hpa' });
    assert.match(rows['ghost']!.detail!, /no document under deploy declares/);
  });

  test('the broken file is reported with one line, not fatal', () => {
    assert.deepEqual(doc.brokenFiles.map((b) => b.file), ['deploy/broken.yaml']);
    assert.match(doc.brokenFiles[0]!.error, /^line \d+:\d+ /);
    assert.doesNotMatch(doc.brokenFiles[0]!.error, /\n/);
  });

  test('the table says the same, without colour when piped', async () => {
    const r = await diff(['--repo', repo, '--path', 'deploy']);
    assert.equal(r.code, 1);
    const line = (name: string) => r.stdout.split('\n').find((l) => l.startsWith(`${ns}/`) && l.split(/\s+/)[0]!.endsWith(`/${name}`))?.split(/\s{2,}/);
    assert.deepEqual(line('web'), [`${ns}/Deployment/web`, '10', '7', '5-20', 'in-band', 'deploy/web.yaml:10']);
    assert.deepEqual(line('api'), [`${ns}/Deployment/api`, '5', '12', '3-10', 'latch-due 10', 'deploy/api.yaml:10']);
    assert.deepEqual(line('worker'), [`${ns}/Deployment/worker`, '10', '2', '5-20', 'latch-due 2', 'deploy/worker.yaml:10']);
    assert.deepEqual(line('capped'), [`${ns}/Deployment/capped`, '5', '12', '3-10', 'out-of-band', 'deploy/capped.yaml:12']);
    assert.deepEqual(line('twin'), [`${ns}/Deployment/twin`, '-', '2', '-', 'ambiguous', 'deploy/copy/twin.yaml:10, deploy/twin.yaml:10']);
    assert.deepEqual(line('ghost'), [`${ns}/Deployment/ghost`, '-', '1', '-', 'unlocated', '(not located)']);
    assert.deepEqual(line('canary'), [`${ns}/Rollout/canary`, '5', '4', '3-10', 'in-band', 'deploy/canary.yaml:10']);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    assert.match(r.stdout, /deploy\/broken\.yaml: line \d+:\d+/);
    assert.match(r.stdout, /11 workloads: 4 in-band, 3 latch-due, 1 out-of-band, 1 unlocated, 1 ambiguous, 1 invalid-policy/);
  });

  test('a file:// URL with --branch (shallow clone) gives the same rows, and leaves no temp dir', async () => {
    const r = await diff(['--repo', pathToFileURL(repo).href, '--branch', 'main', '--path', 'deploy', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const viaUrl = JSON.parse(r.stdout) as typeof doc;
    assert.deepEqual(viaUrl.workloads, doc.workloads);
    assert.deepEqual(viaUrl.repo, { ...doc.repo, url: pathToFileURL(repo).href, branch: 'main' });
    assert.deepEqual(readdirSync(diffTmp), [], 'the clone is removed');
  });

  test('scaling back into the band through /scale and fixing git and the policy → exit 0', async () => {
    await c.kubectl(['scale', '-n', ns, 'deployment/api', '--replicas=9']);
    await c.kubectl(['scale', '-n', ns, 'deployment/worker', '--replicas=6']);
    await c.kubectl(['scale', '-n', ns, 'deployment/capped', '--replicas=5']);
    await c.kubectl(['scale', '-n', ns, 'deployment/scaled', '--replicas=8']);
    await c.kubectl(['delete', '-n', ns, 'deployment/ghost', '--wait=false']);
    await c.kubectl(['annotate', '-n', ns, 'deployment/typo', 'kube-latch.io/ladder=1-2-5', '--overwrite']);
    git('rm', '-q', 'deploy/copy/twin.yaml');
    git('commit', '-q', '-m', 'one declaration of twin');
    const r = await waitFor('diff to exit 0', async () => {
      const x = await diff(['--repo', repo, '--path', 'deploy', '--json']);
      return x.code === 0 ? x : undefined; // the ghost's deletion is asynchronous
    });
    const fixed = JSON.parse(r.stdout);
    assert.equal(fixed.exitCode, 0);
    assert.equal(fixed.summary.inBand, fixed.summary.workloads);
    assert.equal(fixed.summary.workloads, 10);
    assert.deepEqual(fixed.brokenFiles.map((b: { file: string }) => b.file), ['deploy/broken.yaml'], 'a broken file alone does not fail the run');
  });

  test('a replicas difference inside the band is never drift: live 20 and 5 against declared 10 (edges of 5-20)', async () => {
    for (const n of [20, 5]) {
      await c.kubectl(['scale', '-n', ns, 'deployment/web', `--replicas=${n}`]);
      const r = await diff(['--repo', repo, '--path', 'deploy', '--json']);
      assert.equal(r.code, 0, `live ${n}: ${r.stdout}`);
    }
    await c.kubectl(['scale', '-n', ns, 'deployment/web', '--replicas=21']);
    const r = await diff(['--repo', repo, '--path', 'deploy', '--json']);
    assert.equal(r.code, 1);
    const web = JSON.parse(r.stdout).workloads.find((w: Row) => w.name === 'web');
    assert.deepEqual([web.state, web.latchTo], ['latch-due', 20]);
  });
});
