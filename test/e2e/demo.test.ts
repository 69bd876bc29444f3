// `kube-latch demo` (what `npm run demo` runs), as a newcomer would run it: the exit code, the lines that
// carry the story, and that it leaves nothing behind. The demo checks each step itself and exits 1 when
// one does not hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI_MAIN } from '../../src/demo/children.ts';
import { startCluster } from './helpers/cluster.ts';

function demo(args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5 * 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** pids whose command line mentions `text` (the processes a demo run might leave behind). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text)) found.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Asserts that `lines` appear in stdout in this order. */
function inOrder(stdout: string, lines: readonly string[]): void {
  let at = 0;
  for (const l of lines) {
    const i = stdout.indexOf(l, at);
    assert.ok(i >= 0, `expected, after position ${at}: ${l}\n--- stdout ---\n${stdout}`);
    at = i + l.length;
  }
}

test('kube-latch demo walks through one latch, exits 0, and removes everything it started', async () => {
  const r = await demo();
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  inOrder(r.stdout, [
    'Step 1/9: start a local Kubernetes control plane',
    'Step 2/9: create a git remote holding a sample app',
    'apps/web/deployment.yaml',
    'Step 3/9: start kube-latch: the webhook and the watcher',
    '(--settle-up 5)',
    'Step 4/9: GitOps applies the repo',
    '$ kubectl apply --server-side --field-manager=kustomize-controller --force-conflicts -k clusters/demo',
    'kube-latch.io/declared=20',
    'Step 5/9: an autoscaler scales web to 17',
    '$ kubectl scale deployment/web --replicas=17 -n demo',
    'Step 6/9: GitOps re-applies the repo, which still says 20',
    'Warning: kube-latch: kept replicas 17 (declared 20, band 10-40)',
    'web still runs 17 replicas',
    'git is unchanged',
    'Step 7/9: the autoscaler scales web to 45, out of the band 10-40',
    '$ git log -1 --stat',
    'kube-latch: demo/Deployment/web replicas 20 → 50',
    'demo/Deployment/web: live 45, old band 10-40, new 50 (was 20) at apps/web/deployment.yaml:',
    'apps/web/deployment.yaml | 2 +-',
    '-  replicas: 20',
    '+  replicas: 50',
    'Step 8/9: GitOps re-applies the repo, which now says 50',
    'Warning: kube-latch: kept replicas 45 (declared 50, band 25-100)',
    'web still runs 45 replicas',
    'Step 9/9: clean up',
    'stopped the control plane',
    'Done in',
  ]);
  assert.ok(!r.stdout.includes('The demo stopped'), r.stdout);
  const work = /removed (\/\S*kube-latch-demo-[^\s.]+)/i.exec(r.stdout)?.[1];
  assert.ok(work, 'names the temp dir it removed');
  assert.ok(!existsSync(work), `${work} is gone`);
  assert.deepEqual(processesMentioning(work), [], 'no process of the demo is left');
  const took = Number(/Done in ([\d.]+) s/.exec(r.stdout)?.[1]);
  process.stdout.write(`# demo wall time ${r.seconds.toFixed(1)} s (it reports ${took} s)\n`);
});

test('kube-latch demo --dir reuses a running dev cluster and leaves it running', async () => {
  const c = await startCluster({ nodes: 1 });
  try {
    const r = await demo(['--dir', c.dir]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    inOrder(r.stdout, [`Reusing the control plane already running in ${c.dir}`, 'kube-latch: demo/Deployment/web replicas 20 → 50', 'Step 9/9: clean up', 'Done in']);
    assert.ok(!r.stdout.includes('stopped the control plane'));
    // Still up, and the demo's webhook registration is gone.
    const configs = await c.getJson(['mutatingwebhookconfigurations']);
    assert.ok(!configs.items.some((x: { metadata: { name: string } }) => x.metadata.name === 'kube-latch-demo'));
    const web = await c.getJson(['deployment', 'web', '-n', 'demo']);
    assert.equal(web.spec.replicas, 45);
    // A second run on the same cluster starts from a clean slate.
    const again = await demo(['--dir', c.dir]);
    assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
    inOrder(again.stdout, ['Reusing the control plane', 'kube-latch: demo/Deployment/web replicas 20 → 50', 'Done in']);
  } finally {
    await c.stop();
  }
});

test('kube-latch demo exits non-zero, saying which step stopped, when a step cannot do what it says', async () => {
  const notADir = join(tmpdir(), `kube-latch-demo-file-${process.pid}`);
  writeFileSync(notADir, 'a file, not a folder\n');
  try {
    const r = await demo(['--dir', notADir]);
    assert.equal(r.code, 1, r.stdout);
    inOrder(r.stdout, ['Step 1/9: start a local Kubernetes control plane', 'The demo stopped: ', 'Cleaning up after the failure:']);
    assert.ok(!r.stdout.includes('Done in'));
    const work = /removed (\/\S*kube-latch-demo-[^\s.]+)/i.exec(r.stdout)?.[1];
    assert.ok(work && !existsSync(work), 'its temp dir is removed: no logs to keep before kube-latch started');
  } finally {
    rmSync(notADir, { force: true });
  }
});
