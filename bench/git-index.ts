// The repo index and the git flows at scale: a generated repo of 10,000 manifests (Deployments with
// Services in multi-document files, kustomize overlays with markers, Helm values), then
//   - RepoIndex.build over the work tree (cold), and locate() for every workload;
//   - GitRepo.open (clone + build) and sync() after another writer changed 10 and 100 files;
//   - one commitAndPush of 1,000 simultaneous latches (how many commits, how long);
//   - WRITERS watchers pushing at once against one bare repo (push-race retries).
// Run: node bench/git-index.ts [--manifests N] [--writers N]   (prints a table and a JSON line)
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { parseArgs, promisify } from 'node:util';
import { RepoIndex } from '../src/git/repo-index.ts';
import { GitRepo } from '../src/git/repo.ts';
import type { ReplicasChange } from '../src/git/changes.ts';

const exec = promisify(execFile);
const { values } = parseArgs({ options: { manifests: { type: 'string', default: '10000' }, writers: { type: 'string', default: '8' } } });
const N = Number(values.manifests);
const WRITERS = Number(values.writers);

const env = { ...process.env, LC_ALL: 'C', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'gen', GIT_AUTHOR_EMAIL: 'gen@example.com', GIT_COMMITTER_NAME: 'gen', GIT_COMMITTER_EMAIL: 'gen@example.com' };
const git = (cwd: string, ...args: string[]) => exec('git', args, { cwd, env, maxBuffer: 256 << 20 });

/** Workload i: which file and how its replicas are declared. */
function manifest(i: number): [string, string] {
  const ns = `team-${i % 40}`;
  const name = `app-${i}`;
  const deploy = (replicas: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels:\n    app: ${name}\n    kube-latch.io/enabled: "true"\n  annotations:\n    kube-latch.io/ladder: 1-2-5\nspec:\n${replicas}  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n        - name: app\n          image: registry.example/${name}:1.${i % 7}\n          ports: [{containerPort: 8080}]\n          resources:\n            requests: {cpu: 100m, memory: 128Mi}\n`;
  const service = `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n  ports: [{port: 80, targetPort: 8080}]\n`;
  switch (i % 10) {
    case 0: // Helm values with a marker
      return [`helm/${ns}/${name}-values.yaml`, `# values for ${name}\nimage:\n  tag: "1.${i % 7}"\nreplicaCount: ${(i % 30) + 1} # kube-latch: ${ns}/Deployment/${name}\nresources: {}\n`];
    case 1: // kustomize patch with a marker
      return [`overlays/${ns}/${name}-replicas.yaml`, `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: ${(i % 30) + 1} # kube-latch: ${ns}/Deployment/${name}\n`];
    case 2: // no spec.replicas: declared 1
      return [`apps/${ns}/${name}.yaml`, deploy('')];
    default: // Deployment and Service in one file
      return [`apps/${ns}/${name}.yaml`, `${deploy(`  replicas: ${(i % 30) + 1}\n`)}---\n${service}`];
  }
}

const ref = (i: number) => ({ namespace: `team-${i % 40}`, kind: 'Deployment', name: `app-${i}` });

async function ms<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

const root = await mkdtemp(join(tmpdir(), 'kl-bench-git-'));
const results: Record<string, number> = {};
try {
  // Generate the repo and a bare remote.
  const seed = join(root, 'seed');
  await mkdir(seed);
  await git(seed, 'init', '-q', '--initial-branch=main');
  for (let i = 0; i < N; i++) {
    const [rel, text] = manifest(i);
    await mkdir(dirname(join(seed, rel)), { recursive: true });
    await writeFile(join(seed, rel), text);
  }
  await git(seed, 'add', '-A');
  await git(seed, 'commit', '-q', '-m', 'generated');
  const bare = join(root, 'remote.git');
  await git(root, 'clone', '-q', '--bare', seed, bare);

  // 1. Cold index build over the work tree, and locate() for every workload.
  const cpu0 = process.cpuUsage();
  const [index, build] = await ms(() => RepoIndex.build(seed, ['.']));
  const cpu = process.cpuUsage(cpu0);
  results['indexBuildMs'] = build;
  // CPU time of this process: the figure that holds on a busy machine (wall time includes waiting for a core).
  results['indexBuildCpuMs'] = (cpu.user + cpu.system) / 1000;
  const t0 = performance.now();
  let located = 0;
  for (let i = 0; i < N; i++) if (index.locate(ref(i)).state === 'located') located++;
  results['locateAllMs'] = performance.now() - t0;
  results['located'] = located;
  results['files'] = index.stats.files;
  results['documents'] = index.stats.documents;

  // 2. GitRepo.open (clone + build), then sync after another writer changed 10 / 100 files.
  const [repo, open] = await ms(() => GitRepo.open({ url: `file://${bare}`, workDir: join(root, 'w'), author: 'Latch Bot <bot@example.com>' }));
  results['openCloneAndBuildMs'] = open;
  for (const k of [10, 100]) {
    for (let i = 0; i < k; i++) {
      const [rel, text] = manifest(i * 7 + k);
      await writeFile(join(seed, rel), text.replace(/replicas: \d+|replicaCount: \d+/, (m) => m.replace(/\d+$/, String(100 + i))));
    }
    await git(seed, 'commit', '-q', '-am', `change ${k}`);
    await git(seed, 'push', '-q', bare, 'HEAD:refs/heads/main');
    const [s, syncMs] = await ms(() => repo.sync());
    results[`sync${k}ChangedMs`] = syncMs;
    results[`sync${k}Reindexed`] = s.reindexed;
    const changedFiles = Array.from({ length: k }, (_, i) => manifest(i * 7 + k)[0]);
    const c0 = process.cpuUsage();
    const [, upd] = await ms(() => index.update(changedFiles));
    const c = process.cpuUsage(c0);
    results[`update${k}FilesMs`] = upd;
    results[`update${k}FilesCpuMs`] = (c.user + c.system) / 1000;
  }

  // 3. 1,000 simultaneous latches in one batch.
  const latches: ReplicasChange[] = [];
  for (let i = 0; latches.length < 1000; i++) {
    const loc = repo.index.locate(ref(i));
    if (loc.state === 'located') latches.push({ type: 'replicas', ref: ref(i), value: loc.value * 5, declared: loc.value, live: loc.value * 5 - 1 });
  }
  const before = Number((await git(bare, 'rev-list', '--count', 'main')).stdout.trim());
  const [res, batchMs] = await ms(() => repo.commitAndPush(latches));
  const after = Number((await git(bare, 'rev-list', '--count', 'main')).stdout.trim());
  results['batch1000Ms'] = batchMs;
  results['batch1000Commits'] = after - before;
  results['batch1000Written'] = res.outcomes.filter((o) => o.status === 'written').length;

  // 4. Several watchers pushing at once (distinct workloads): retries caused by the push races.
  const writers = await Promise.all(
    Array.from({ length: WRITERS }, (_, w) => GitRepo.open({ url: `file://${bare}`, workDir: join(root, `race-${w}`), retry: { maxAttempts: 20, baseDelayMs: 50, maxDelayMs: 2000 } })),
  );
  const [raced, raceMs] = await ms(() =>
    Promise.all(
      writers.map((w, k) => {
        const i = N - 7 - k * 10; // i % 10 === 3: a Deployment file, outside the batch above
        const loc = w.index.locate(ref(i));
        const v = loc.state === 'located' ? loc.value : 1;
        return w.commitAndPush([{ type: 'replicas', ref: ref(i), value: v + 1000, declared: v }]);
      }),
    ),
  );
  results['raceWriters'] = WRITERS;
  results['raceAllPushed'] = raced.every((r) => r.status === 'pushed') ? 1 : 0;
  results['raceTotalRetries'] = raced.reduce((s, r) => s + r.attempts - 1, 0);
  results['raceMaxAttempts'] = Math.max(...raced.map((r) => r.attempts));
  results['raceWallMs'] = raceMs;
} finally {
  await rm(root, { recursive: true, force: true });
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(0));
console.log(`git index and flows, ${N} manifests, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}`);
for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(24)} ${fmt(v).padStart(10)}`);
console.log(JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(v)]))));
