// `kube-latch dev-cluster` end to end through the CLI: a real etcd, kube-apiserver, controller-manager,
// scheduler and kwok start, serve, schedule pods onto fake nodes, and stop without leaving a process behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { down, readState, restart, toolVersions } from '../../../src/devcluster/index.ts';
import { run, toYaml, waitFor, type RunOptions, type RunResult } from '../../e2e/helpers/cluster.ts';

const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const versions = toolVersions();

function cli(args: string[], timeoutMs = 60 * 60_000): Promise<RunResult> {
  return run(process.execPath, [CLI, 'dev-cluster', ...args], { allowFail: true, timeoutMs });
}

/** pids of every process whose command line mentions `needle` (the cluster's folder). */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found.filter((pid) => pid !== process.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

test('bad invocations exit 2 with a one-line message and nothing on stdout', async () => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: [], message: /expected up or down/ },
    { args: ['sideways'], message: /unknown action "sideways"/ },
    { args: ['up'], message: /--dir is required/ },
    { args: ['up', '--dir', '/tmp/unused', '--nodes', 'three'], message: /--nodes must be a non-negative integer/ },
    { args: ['up', '--dir', '/tmp/unused', '--nodes', '500'], message: /--nodes must be at most 100/ },
    { args: ['up', '--dir', '/tmp/unused', '--colour'], message: /Unknown option '--colour'/ },
    { args: ['down'], message: /--dir is required/ },
  ];
  for (const c of cases) {
    const res = await cli(c.args, 30_000);
    assert.equal(res.code, 2, `${c.args.join(' ')}: ${res.stderr}`);
    assert.equal(res.stdout, '', c.args.join(' '));
    assert.match(res.stderr, c.message, c.args.join(' '));
    assert.equal(res.stderr.trim().split('\n').length, 1, c.args.join(' '));
  }
});

test('dev-cluster up, serve, schedule onto kwok nodes, up again, down', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-latch-devcluster-'));
  after(async () => {
    await down({ dir, progress: () => {} }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  const first = await cli(['up', '--dir', dir, '--nodes', '2']);
  assert.equal(first.code, 0, first.stderr);
  const lines = first.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `stdout must be one JSON line, got: ${first.stdout}`);
  const out = JSON.parse(lines[0]!) as { kubeconfig: string; bin: string; server: string };
  assert.deepEqual(Object.keys(out), ['kubeconfig', 'bin', 'server']);
  assert.equal(out.kubeconfig, join(dir, 'kubeconfig'));
  assert.match(out.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(existsSync(join(out.bin, 'kubectl')) && existsSync(join(out.bin, 'helm')), `kubectl and helm in ${out.bin}`);
  const kubectl = (args: string[], opts: RunOptions = {}): Promise<RunResult> =>
    run(join(out.bin, 'kubectl'), ['--kubeconfig', out.kubeconfig, ...args], opts);

  const state = readState(dir);
  assert.ok(state, 'state.json written');
  const names = state.processes.map((p) => p.name).sort();
  assert.deepEqual(names, ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']);

  await t.test('a real kube-apiserver process serves the address it printed', () => {
    const apiserver = state.processes.find((p) => p.name === 'kube-apiserver')!;
    assert.ok(isAlive(apiserver.pid));
    const argv = readFileSync(`/proc/${apiserver.pid}/cmdline`, 'utf8').split('\0');
    assert.match(argv[0]!, /kube-apiserver$/);
    assert.ok(argv.includes(`--secure-port=${new URL(out.server).port}`), argv.join(' '));
    assert.ok(argv.includes('--authorization-mode=RBAC'), argv.join(' '));
  });

  await t.test('/version reports the pinned Kubernetes release', async () => {
    const expected = process.env['KUBEBUILDER_ASSETS'] ? undefined : versions.kubernetes;
    const version = JSON.parse((await kubectl(['get', '--raw', '/version'])).stdout) as { gitVersion: string };
    if (expected) assert.equal(version.gitVersion, expected);
    else assert.match(version.gitVersion, /^v1\.\d+\.\d+/);
    const client = JSON.parse((await kubectl(['version', '--client', '-o', 'json'])).stdout) as { clientVersion: { gitVersion: string } };
    assert.equal(client.clientVersion.gitVersion, version.gitVersion);
    const helm = await run(join(out.bin, 'helm'), ['version', '--short']);
    assert.ok(helm.stdout.startsWith(versions.helm), helm.stdout);
  });

  await t.test('the admin credential is cluster-admin and RBAC is on', async () => {
    assert.equal((await kubectl(['auth', 'can-i', '*', '*', '--all-namespaces'])).stdout.trim(), 'yes');
    const nobody = await kubectl(['auth', 'can-i', 'list', 'secrets', '--as', 'nobody'], { allowFail: true });
    assert.deepEqual([nobody.code, nobody.stdout.trim()], [1, 'no'], 'a user without bindings is denied');
  });

  await t.test("a Deployment's pods become Ready on kwok nodes", async () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
        },
      },
    };
    await kubectl(['apply', '-f', '-'], { input: toYaml(deployment) });
    await waitFor('3 ready replicas of deployment/web', async () => {
      const d = JSON.parse((await kubectl(['get', 'deployment', 'web', '-o', 'json'])).stdout) as { status?: { readyReplicas?: number } };
      return d.status?.readyReplicas === 3;
    });
    const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout) as {
      items: { spec: { nodeName?: string }; status: { conditions?: { type: string; status: string }[] } }[];
    };
    assert.equal(pods.items.length, 3);
    for (const p of pods.items) {
      assert.match(p.spec.nodeName ?? '', /^kwok-node-[01]$/);
      assert.ok(p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }
  });

  await t.test('up on a running folder returns the same cluster', async () => {
    const again = await cli(['up', '--dir', dir, '--nodes', '2'], 120_000);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout.trim()), out);
    assert.deepEqual(readState(dir)?.processes, state.processes, 'no process was restarted');
  });

  await t.test('restart() starts kube-apiserver again with its recorded arguments; what it stored is still there', async () => {
    const old = readState(dir)!.processes.find((p) => p.name === 'kube-apiserver')!;
    const fresh = await restart({ dir, component: 'kube-apiserver', progress: () => {} });
    assert.notEqual(fresh.pid, old.pid);
    assert.equal(isAlive(old.pid), false, 'the old apiserver is gone');
    assert.deepEqual(readFileSync(`/proc/${fresh.pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '').slice(1), old.args);
    assert.equal(readState(dir)!.processes.find((p) => p.name === 'kube-apiserver')!.pid, fresh.pid, 'state.json follows');
    assert.equal((await kubectl(['get', 'deployment', 'web', '-o', 'jsonpath={.spec.replicas}'])).stdout, '3', 'same etcd data, same port');
    await assert.rejects(restart({ dir, component: 'git-http', progress: () => {} }), /restart: git-http is not one of etcd, kube-apiserver/);
  });

  await t.test('down stops every process it started and removes the state', async () => {
    const res = await cli(['down', '--dir', dir], 120_000);
    assert.equal(res.code, 0, res.stderr);
    for (const p of state.processes) assert.equal(isAlive(p.pid), false, `${p.name} (pid ${p.pid}) still running`);
    assert.deepEqual(processesMentioning(dir), [], 'no process refers to the cluster folder');
    assert.equal(readState(dir), undefined);
    assert.equal(existsSync(join(dir, 'kubeconfig')), false);
    assert.ok(existsSync(join(dir, 'logs', 'kube-apiserver.log')), 'logs stay for inspection');
    const twice = await cli(['down', '--dir', dir], 30_000);
    assert.equal(twice.code, 0, twice.stderr);
  });
});
