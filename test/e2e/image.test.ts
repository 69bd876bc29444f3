// kube-latch's image, built by scripts/build-image.sh (buildah, bases made here, no registry) and run by
// runc the way the chart runs it (issue 27): `helm template` of charts/kube-latch gives each container's
// args, env, mounts and securityContext; helpers/oci.ts turns them into an OCI bundle (read-only root,
// uid 65532, no capabilities, no new privileges, emptyDirs and 0440 Secret files owned root:fsGroup).
// The webhook serves TLS from its mounted certificate (the chart's cert-manager mode) and answers a review;
// the watcher runs with a ServiceAccount token of the chart's own RBAC (what a pod gets) against a dev
// cluster, and pushes its latch over SSH to a loopback sshd with its host key checked strictly. Both end
// cleanly on SIGTERM inside the chart's grace period. Figures are printed as `# …` lines (docs/install.md).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { commits, createRemote, type Remote } from '../../src/demo/git.ts';
import { freePort } from '../../src/devcluster/processes.ts';
import { ANNOTATIONS } from '../../src/latch/policy.ts';
import { makeTls } from '../integration/git/helpers/tls.ts';
import { startSshd, type Sshd } from '../integration/git/helpers/sshd.ts';
import { run, startCluster, waitFor, type TestCluster } from './helpers/cluster.ts';
import { manifests } from './helpers/loop.ts';
import { imageConfig, mountImage, runContainer, type ContainerSpec, type ImageConfig, type RunningContainer } from './helpers/oci.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RELEASE_NS = 'kube-latch';
const POD = 'kube-latch-image-test';

let c: TestCluster;
let dir = '';
let image = '';
let config: ImageConfig;
let rootfs = '';
let releaseRootfs: (() => Promise<void>) | undefined;
let sshd: Sshd | undefined;
let buildLines: string[] = [];
const containers: RunningContainer[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-latch-image-'));
  const t = Date.now();
  const built = await run('bash', [join(ROOT, 'scripts/build-image.sh')], { timeoutMs: 20 * 60_000 });
  buildLines = built.stderr.split('\n').filter((l) => /built in|cached|uncompressed/.test(l));
  process.stdout.write(`# image: scripts/build-image.sh ${((Date.now() - t) / 1000).toFixed(1)} s: ${buildLines.map((l) => l.replace(/^\[image [^\]]*\] /, '')).join('; ')}\n`);
  image = built.stdout.trim().split('\n').pop()!.split(' ')[0]!;
  config = await imageConfig(image);
  ({ rootfs, release: releaseRootfs } = await mountImage(image));
  c = await startCluster({ nodes: 1 });
  sshd = await startSshd(join(dir, 'sshd'));
});

after(async () => {
  for (const k of containers) await k.remove().catch(() => {});
  await releaseRootfs?.();
  await sshd?.stop();
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `helm template` of the chart in the release namespace: every object, parsed. */
async function template(set: Record<string, string>, files: Record<string, string> = {}): Promise<any[]> {
  const args = ['template', 'kube-latch', join(ROOT, 'charts/kube-latch'), '-n', RELEASE_NS, ...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ...Object.entries(files).flatMap(([k, v]) => ['--set-file', `${k}=${v}`])];
  return parseAllDocuments((await c.helm(args)).stdout).map((d) => d.toJSON()).filter((o) => o);
}

const deploymentOf = (objs: any[]) => objs.find((o) => o.kind === 'Deployment');
const containerOf = (objs: any[], name: string): ContainerSpec => deploymentOf(objs).spec.template.spec.containers.find((x: ContainerSpec) => x.name === name);

function post(port: number, ca: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const httpStatus = (port: number, path: string): Promise<number> =>
  fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status, () => 0);

/** SIGTERM as the kubelet sends it (after the preStop hook); resolves with the exit code and seconds taken. */
async function stopLikeKubelet(k: RunningContainer, graceSeconds: number): Promise<{ code: number; seconds: number }> {
  const t = Date.now();
  await k.kill('TERM');
  const code = await Promise.race([k.exited, new Promise<number>((r) => setTimeout(() => r(-1), graceSeconds * 1000))]);
  return { code, seconds: (Date.now() - t) / 1000 };
}

test('the webhook container: uid 65532 on a read-only root, TLS from its mounted certificate, answers a review, exits 0 on SIGTERM inside the grace period', async () => {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const objs = await template({ 'certManager.enabled': 'true', 'watcher.enabled': 'false', 'webhook.port': String(port), 'webhook.metricsPort': String(metricsPort) });
  const pod = deploymentOf(objs).spec.template.spec;
  const tls = makeTls();
  const t0 = Date.now();
  const k = await runContainer({
    dir, id: 'webhook', rootfs, image: config, spec: containerOf(objs, 'webhook'), fsGroup: pod.securityContext.fsGroup,
    volumes: { emptyDirs: { tmp: join(dir, 'webhook-tmp') }, secrets: { tls: { 'tls.crt': tls.cert, 'tls.key': tls.key, 'ca.crt': tls.ca } } },
    fields: { 'metadata.namespace': RELEASE_NS, 'metadata.name': POD },
  });
  containers.push(k);
  await waitFor('the webhook /readyz', async () => (await httpStatus(metricsPort, '/readyz')) === 200, { timeoutMs: 30_000, intervalMs: 100 });
  const readySeconds = (Date.now() - t0) / 1000;

  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${await k.initPid()}/status`, 'utf8'))?.[1];
  assert.equal(uid, '65532', 'PID 1 (tini) runs as the chart’s user');
  const write = await k.exec(['/bin/sh', '-c', 'echo x > /probe']);
  assert.notEqual(write.code, 0);
  assert.match(write.stderr, /Read-only file system/);
  assert.equal((await k.exec(['/bin/sh', '-c', 'echo x > /tmp/probe'])).code, 0, '/tmp is the writable emptyDir');
  assert.equal((await k.exec(['/bin/sleep', '0'])).code, 0, "the chart's preStop runs /bin/sleep");

  const review = readFileSync(join(ROOT, 'test/fixtures/admission/deployment-csa.json'), 'utf8');
  const res = await post(port, tls.ca, review);
  assert.equal(res.status, 200, res.body);
  const answer = JSON.parse(res.body).response;
  assert.equal(answer.uid, JSON.parse(review).request.uid);
  assert.equal(answer.allowed, true);
  const patch = JSON.parse(Buffer.from(answer.patch, 'base64').toString('utf8'));
  assert.ok(patch.some((op: { path: string; value: unknown }) => op.path === '/spec/replicas' && op.value === 17), JSON.stringify(patch));
  assert.equal((await post(port, tls.ca, '{not json')).status, 400);

  const grace = deploymentOf(objs).spec.template.spec.terminationGracePeriodSeconds as number;
  const stop = await stopLikeKubelet(k, grace);
  assert.equal(stop.code, 0, k.output().slice(-2000));
  assert.match(k.output(), /"signal":"SIGTERM"[^\n]*shutting down: draining in-flight requests/, 'tini forwarded SIGTERM to kube-latch');
  process.stdout.write(`# image webhook: ready ${readySeconds.toFixed(1)} s after runc run; uid 65532, read-only root; review answered (keeps 17); SIGTERM → exit ${stop.code} in ${stop.seconds.toFixed(2)} s (grace ${grace} s)\n`);
});

/** An opted-in Deployment at 4 in a fresh namespace, and a bare repository that declares it. */
async function workload(app: string): Promise<{ ns: string; remote: Remote }> {
  const ns = await c.namespace(`image-${app}`);
  const manifest = manifests(app, { replicas: 4, optIn: true, min: 2, max: 20 });
  const remote = await createRemote(join(dir, 'repos', `${ns}.git`), { [`apps/${app}.yaml`]: manifest });
  await c.apply(manifest, { namespace: ns });
  return { ns, remote };
}

/**
 * The chart's watcher container for `remote` over SSH, run as a pod would run it: the chart's RBAC applied
 * as rendered, a token of its ServiceAccount mounted where in-cluster config reads it, the key and the
 * known_hosts (`knownHosts`, as the operator passes it to the chart) mounted from their volumes.
 */
async function watcherContainer(id: string, remote: Remote, knownHosts: string): Promise<{ k: RunningContainer; metricsPort: number; grace: number }> {
  const knownHostsFile = join(dir, `${id}-known_hosts`);
  writeFileSync(knownHostsFile, knownHosts);
  const metricsPort = await freePort();
  const objs = await template(
    { 'watcher.enabled': 'true', 'git.url': `ssh://${sshd!.user}@127.0.0.1:${sshd!.port}${remote.dir}`, 'git.branch': remote.branch, 'git.sshSecret': 'kube-latch-git',
      'watcher.settleUp': '2', 'watcher.batchWindow': '1', 'watcher.metricsPort': String(metricsPort), 'webhook.port': String(await freePort()), 'webhook.metricsPort': String(await freePort()) },
    { 'git.knownHosts': knownHostsFile },
  );
  const pod = deploymentOf(objs).spec.template.spec;
  // What the chart grants, and nothing else: its ServiceAccount, roles and bindings, applied as rendered.
  await c.kubectl(['create', 'namespace', RELEASE_NS], { allowFail: true });
  await c.apply(objs.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind)), { namespace: RELEASE_NS });
  const token = (await c.kubectl(['create', 'token', pod.serviceAccountName, '-n', RELEASE_NS, '--duration', '1h'])).stdout.trim();
  const sa = join(dir, `${id}-serviceaccount`);
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'ca.crt'), readFileSync(join(c.dir, 'pki', 'ca.crt')));
  writeFileSync(join(sa, 'namespace'), RELEASE_NS);
  const knownHostsCm = objs.find((o) => o.kind === 'ConfigMap' && o.data?.known_hosts);
  assert.ok(knownHostsCm, 'the chart renders the known_hosts ConfigMap');
  const k = await runContainer({
    dir, id, rootfs, image: config, spec: containerOf(objs, 'watcher'), fsGroup: pod.securityContext.fsGroup,
    volumes: {
      emptyDirs: { tmp: join(dir, `${id}-tmp`), work: join(dir, `${id}-work`) },
      secrets: { 'ssh-key': { id: readFileSync(sshd!.clientKey, 'utf8') }, 'known-hosts': { known_hosts: knownHostsCm.data.known_hosts } },
    },
    fields: { 'metadata.namespace': RELEASE_NS, 'metadata.name': POD },
    extraEnv: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(c.server).port },
    extraMounts: [{ destination: '/var/run/secrets/kubernetes.io/serviceaccount', source: sa }],
  });
  containers.push(k);
  return { k, metricsPort, grace: pod.terminationGracePeriodSeconds as number };
}

test('the watcher container: in-cluster with the chart’s RBAC, pushes the latch over SSH with strict host keys, marks the workload, exits 0 on SIGTERM', async () => {
  const app = 'web';
  const { ns, remote } = await workload(app);
  const t0 = Date.now();
  const { k, metricsPort, grace } = await watcherContainer('watcher', remote, sshd!.knownHosts);
  await waitFor('the watcher /readyz', async () => (await httpStatus(metricsPort, '/readyz')) === 200, { timeoutMs: 60_000, intervalMs: 200 });
  const readySeconds = (Date.now() - t0) / 1000;

  // Live goes to 12 through /scale, as the HPA writes; git declares 4, so the latch is 10.
  const seed = (await commits(remote))[0]!.sha;
  await c.kubectl(['scale', '-n', ns, `deployment/${app}`, '--replicas=12']);
  const ts = Date.now();
  const latch = await waitFor('the watcher’s commit over SSH', async () => {
    const [tip] = await commits(remote);
    return tip!.sha !== seed ? tip : undefined;
  }, { timeoutMs: 90_000, intervalMs: 250 });
  const latchSeconds = (Date.now() - ts) / 1000;
  assert.equal(latch!.subject, `kube-latch: ${ns}/Deployment/${app} replicas 4 → 10`);
  await waitFor('the marker on the workload', async () => (await c.getJson(['-n', ns, 'deployment', app])).metadata.annotations?.[ANNOTATIONS.latched] === '10', { timeoutMs: 30_000, intervalMs: 250 });
  assert.doesNotMatch(k.output(), /forbidden/i, 'the chart’s RBAC covers what the watcher does');
  assert.match(sshd!.log(), /Accepted publickey/, 'pushed over SSH with the mounted key');

  const stop = await stopLikeKubelet(k, grace);
  assert.equal(stop.code, 0, k.output().slice(-2000));
  assert.match(k.output(), /"signal":"SIGTERM"[^\n]*shutting down: finishing a write in progress/, 'tini forwarded SIGTERM to kube-latch');
  assert.match(k.output(), /released the lease/);
  process.stdout.write(`# image watcher: ready ${readySeconds.toFixed(1)} s after runc run (in-cluster token of the chart's RBAC); latch 4 → 10 pushed over SSH ${latchSeconds.toFixed(1)} s after the scale; SIGTERM → exit ${stop.code} in ${stop.seconds.toFixed(2)} s (grace ${grace} s)\n`);
});

test('the watcher container with a known_hosts that does not hold the server’s key: ssh refuses the host, the watcher exits 1 naming it, nothing is pushed', async () => {
  const { remote } = await workload('stranger');
  const seed = (await commits(remote))[0]!.sha;
  // A real ed25519 key, but not this server's.
  const other = readFileSync(`${sshd!.clientKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const sessions = (): number => sshd!.log().split('Accepted publickey').length - 1;
  const before = sessions();
  const { k } = await watcherContainer('watcher-stranger', remote, `[127.0.0.1]:${sshd!.port} ${other}\n`);
  // Not retried: a wrong host key needs an operator, so the container exits 1 (and the kubelet's restarts show it).
  const code = await Promise.race([k.exited, new Promise<number>((r) => setTimeout(() => r(-1), 60_000))]);
  assert.equal(code, 1, k.output().slice(-2000));
  assert.match(k.output(), /refused: the ssh host key of 127\.0\.0\.1:\d+ does not match the key listed in \/etc\/kube-latch\/known_hosts\/known_hosts \(strict host key checking\)/);
  assert.equal((await commits(remote))[0]!.sha, seed);
  assert.equal(sessions(), before, 'no session was opened: the client stopped at the host key');
  await k.remove();
});
