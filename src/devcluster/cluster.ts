// `up` and `down` for a local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and kwok (fake Nodes, so pods turn Ready and rollouts progress), all on loopback, all detached so that
// they outlive the CLI. DIR holds everything: state.json (pids, ports), kubeconfig, pki/, etcd/, logs/.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { aggregatorAndAuditArgs } from './apiserver-flags.ts';
import { call, httpOk, probe, type ApiCredentials } from './api.ts';
import { credsFromKubeconfig, renderKubeconfig } from './kubeconfig.ts';
import { fakeNode, readyNodes } from './nodes.ts';
import { createClusterPki } from './pki.ts';
import { alive, freePort, sleep, spawnDetached, stopGroup } from './processes.ts';
import { ensureToolchain, type Toolchain } from './toolchain.ts';
import { planExtras, type ExtraName } from './tools/extras.ts';

export interface UpOptions {
  dir: string;
  /** fake kwok Nodes to create (default 3) */
  nodes?: number;
  /** progress lines (default: stderr) */
  progress?: (line: string) => void;
  /** a toolchain already at hand; default ensureToolchain() */
  toolchain?: Toolchain;
  /** extras to start beside the control plane (metrics-server, Flux, ...) */
  with?: readonly ExtraName[];
}

export interface DevCluster {
  /** DIR/kubeconfig: a cluster-admin client certificate, certificates embedded */
  kubeconfig: string;
  /** folder holding kubectl, helm and the control-plane binaries */
  bin: string;
  /** https://127.0.0.1:PORT */
  server: string;
  dir: string;
  processes: ProcessRecord[];
  /** whether this call started the cluster (false: it was already running) */
  started: boolean;
  /** what the extras serve, e.g. git: http://127.0.0.1:P (bare repositories under DIR/git) */
  endpoints: Record<string, string>;
}

export interface ProcessRecord {
  name: Component;
  pid: number;
  /** the path it was started from; a pid whose argv[0] differs was reused by another program */
  exe: string;
  /** its arguments, so that restart() can start it again as it was */
  args?: string[];
}

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok' | (string & {});
const BASE: Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'];

interface State {
  version: 1;
  server: string;
  kubeconfig: string;
  bin: string;
  nodes: number;
  ports: { etcd: number; etcdPeer: number; apiserver: number };
  processes: ProcessRecord[];
  startedAt: string;
  with?: ExtraName[];
  endpoints?: Record<string, string>;
}

const STATE = 'state.json';
const READY_TIMEOUT_MS = 180_000;
const SERVICE_CIDR = '10.96.0.0/16';
const POD_CIDR = '10.244.0.0/16';

const stderrProgress = (l: string): void => void process.stderr.write(l + '\n');

/** Starts a dev cluster in DIR, or returns the one already running there. */
export async function up(opts: UpOptions): Promise<DevCluster> {
  const dir = resolve(opts.dir);
  const nodes = opts.nodes ?? 3;
  if (!Number.isInteger(nodes) || nodes < 0) throw new Error(`nodes must be a non-negative integer, got ${nodes}`);
  const progress = opts.progress ?? stderrProgress;
  mkdirSync(join(dir, 'logs'), { recursive: true });
  return withLock(dir, async () => {
    const existing = readState(dir);
    if (existing) {
      const extrasMatch = (opts.with ?? []).every((w) => existing.with?.includes(w));
      if (extrasMatch && (await isRunning(dir, existing))) {
        progress(`dev-cluster: already running at ${existing.server} (${dir})`);
        return result(dir, existing, false);
      }
      progress('dev-cluster: previous cluster in this folder is not healthy; stopping what is left and starting afresh');
      await stopAll(dir, existing, progress);
    }
    const toolchain = opts.toolchain ?? (await ensureToolchain({ progress }));
    return start(dir, nodes, toolchain, [...(opts.with ?? [])], progress);
  });
}

/** Stops every process the dev cluster in DIR started and removes its state. Logs stay in DIR/logs. */
export async function down(opts: { dir: string; progress?: (line: string) => void }): Promise<{ stopped: number }> {
  const dir = resolve(opts.dir);
  const progress = opts.progress ?? stderrProgress;
  if (!existsSync(dir)) return { stopped: 0 };
  return withLock(dir, async () => {
    const state = readState(dir);
    if (!state) {
      progress(`dev-cluster: nothing running in ${dir}`);
      return { stopped: 0 };
    }
    const stopped = await stopAll(dir, state, progress);
    progress(`dev-cluster: stopped ${stopped} processes`);
    return { stopped };
  });
}

/**
 * Stops one control-plane component (SIGTERM, then SIGKILL after 10 s) and starts it again with the same
 * arguments, ports and data; resolves once the apiserver answers /readyz again. The fault the e2e suites
 * inject with it: a kube-apiserver restart under running watches. Extras (launched with their own
 * environment) are not restartable here.
 */
export async function restart(opts: { dir: string; component: Component; progress?: (line: string) => void }): Promise<ProcessRecord> {
  const dir = resolve(opts.dir);
  const progress = opts.progress ?? stderrProgress;
  if (!BASE.includes(opts.component)) throw new Error(`restart: ${opts.component} is not one of ${BASE.join(', ')}`);
  return withLock(dir, async () => {
    const state = readState(dir);
    const rec = state?.processes.find((p) => p.name === opts.component);
    if (!state || !rec) throw new Error(`restart: no ${opts.component} recorded in ${dir}`);
    if (!rec.args) throw new Error(`restart: ${opts.component} in ${dir} was started without recorded arguments; run down and up`);
    const t0 = Date.now();
    await stopGroup(rec.pid);
    rec.pid = spawnDetached(rec.exe, rec.args, join(dir, 'logs', `${rec.name}.log`));
    writeState(dir, state);
    const creds = credsFromKubeconfig(state);
    if (!creds) throw new Error(`restart: no kubeconfig in ${dir}`);
    await waitFor('kube-apiserver /readyz', async () => (await probe(creds, '/readyz')) === 200, state, dir);
    progress(`dev-cluster: restarted ${rec.name} (pid ${rec.pid}) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return rec;
  });
}

/** The state recorded in DIR, if any (for tests and tooling). */
export function readState(dir: string): State | undefined {
  const file = join(resolve(dir), STATE);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as State;
}

async function start(dir: string, nodes: number, tc: Toolchain, extras: ExtraName[], progress: (l: string) => void): Promise<DevCluster> {
  const planned = await planExtras(extras, progress);
  const t0 = Date.now();
  const since = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  const pkiDir = join(dir, 'pki');
  const etcdDir = join(dir, 'etcd');
  rmSync(etcdDir, { recursive: true, force: true });
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });

  const pki = createClusterPki();
  const file = (name: string, content: string): string => {
    const p = join(pkiDir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const caCrt = file('ca.crt', pki.caCert);
  file('ca.key', pki.caKey);
  const servingCrt = file('apiserver.crt', pki.servingCert);
  const servingKey = file('apiserver.key', pki.servingKey);
  const saKey = file('sa.key', pki.serviceAccountKey);
  const saPub = file('sa.pub', pki.serviceAccountPub);
  const proxy = { caCrt, proxyCrt: file('front-proxy.crt', pki.frontProxyCert), proxyKey: file('front-proxy.key', pki.frontProxyKey) };

  const ports = { etcd: await freePort(), etcdPeer: await freePort(), apiserver: await freePort() };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, renderKubeconfig(server, pki.caCert, pki.adminCert, pki.adminKey), { mode: 0o600 });
  const creds: ApiCredentials = { server, ca: pki.caCert, cert: pki.adminCert, key: pki.adminKey };

  const state: State = {
    version: 1,
    server,
    kubeconfig,
    bin: tc.binDir,
    nodes,
    ports,
    processes: [],
    startedAt: new Date().toISOString(),
    with: extras,
    endpoints: {},
  };
  const launch = (name: Component, exe: string, args: string[], env?: NodeJS.ProcessEnv): void => {
    const pid = spawnDetached(exe, args, join(dir, 'logs', `${name}.log`), env);
    state.processes.push({ name, pid, exe, args });
    writeState(dir, state); // recorded at once, so `down` can stop a half-started cluster
  };

  try {
    const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    launch('etcd', tc.etcd, [
      '--name=default',
      `--data-dir=${etcdDir}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // A throwaway cluster: skipping fsync makes every write cheap. (etcd 3.5+; 3.4 lacks the flag.)
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);
    await waitFor('etcd /health', () => httpOk(`${etcdUrl}/health`), state, dir);
    progress(`dev-cluster: etcd ready (${since()})`);

    launch('kube-apiserver', tc.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.apiserver}`,
      `--cert-dir=${pkiDir}`,
      `--tls-cert-file=${servingCrt}`,
      `--tls-private-key-file=${servingKey}`,
      `--client-ca-file=${caCrt}`,
      '--authorization-mode=RBAC',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      '--allow-privileged=true',
      // The `kubernetes` Service cannot have a loopback endpoint; nothing in a kwok cluster dials it.
      '--endpoint-reconciler-type=none',
      // No --enable-aggregator-routing: endpoint routing cannot resolve metrics-server's ExternalName
      // Service to 127.0.0.1 (loopback cannot be an Endpoints address), the ClusterIP route can.
      '--profiling=false',
      ...aggregatorAndAuditArgs(dir, proxy),
    ]);
    await waitFor('kube-apiserver /readyz', async () => (await probe(creds, '/readyz')) === 200, state, dir);
    progress(`dev-cluster: kube-apiserver ready at ${server} (${since()})`);

    launch('kube-controller-manager', tc.kubeControllerManager, [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--service-account-private-key-file=${saKey}`,
      `--root-ca-file=${caCrt}`,
      '--use-service-account-credentials=false',
    ]);
    launch('kube-scheduler', tc.kubeScheduler, [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', '--secure-port=0']);
    launch('kwok', tc.kwok, [
      `--kubeconfig=${kubeconfig}`,
      // only its own fake Nodes: a real kubelet node may stand beside them
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--cidr=${POD_CIDR}`,
      // Without node Leases the node controller marks every Node NotReady ~50 s after start.
      '--node-lease-duration-seconds=40',
      ...tc.kwokStages.flatMap((s) => ['-c', s]),
      ...planned.kwokArgs,
    ]);

    for (let i = 0; i < nodes; i++) {
      const res = await call(creds, 'POST', '/api/v1/nodes', fakeNode(`kwok-node-${i}`));
      if (res.status !== 201 && res.status !== 409) throw new Error(`creating node kwok-node-${i}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
    }
    await waitFor(`${nodes} Ready nodes`, async () => (await readyNodes(creds)) >= nodes, state, dir);
    progress(`dev-cluster: ${nodes} kwok nodes Ready (${since()})`);
    await waitFor(
      'ServiceAccount default/default',
      async () => (await probe(creds, '/api/v1/namespaces/default/serviceaccounts/default')) === 200,
      state,
      dir,
    );
    await planned.start({
      dir,
      kubeconfig,
      creds,
      kubectl: tc.kubectl,
      launch,
      waitFor: (what, ready) => waitFor(what, ready, state, dir),
      progress,
      endpoints: state.endpoints!,
    });
    writeState(dir, state);
    progress(`dev-cluster: up in ${since()}: kubeconfig ${kubeconfig}`);
    return result(dir, state, true);
  } catch (err) {
    progress(`dev-cluster: start failed, stopping what was started (logs stay in ${join(dir, 'logs')})`);
    await stopAll(dir, state, () => {});
    throw err;
  }
}

/** Polls `ready` every 100 ms; fails early, naming the log, when one of our processes has died. */
async function waitFor(what: string, ready: () => Promise<boolean>, state: State, dir: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (await ready()) return;
    const dead = state.processes.find((p) => !alive(p.pid, p.exe));
    if (dead) {
      const log = join(dir, 'logs', `${dead.name}.log`);
      throw new Error(`${dead.name} exited while waiting for ${what}; last log line: ${lastLine(log)} (see ${log})`);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000}s waiting for ${what} (logs in ${join(dir, 'logs')})`);
    await sleep(100);
  }
}

async function isRunning(dir: string, state: State): Promise<boolean> {
  if (!state.processes.every((p) => alive(p.pid, p.exe))) return false;
  if (!BASE.every((b) => state.processes.some((p) => p.name === b))) return false;
  const creds = credsFromKubeconfig(state);
  return creds !== undefined && (await probe(creds, '/readyz')) === 200 && existsSync(join(dir, 'kubeconfig'));
}

/** Stops the components in reverse dependency order, then removes state, kubeconfig, pki and etcd data. */
async function stopAll(dir: string, state: State, progress: (l: string) => void): Promise<number> {
  let stopped = 0;
  const stop = async (p: ProcessRecord): Promise<void> => {
    if (!alive(p.pid, p.exe)) return;
    await stopGroup(p.pid);
    stopped++;
    progress(`dev-cluster: stopped ${p.name} (pid ${p.pid})`);
  };
  const byName = (names: Component[]): ProcessRecord[] => state.processes.filter((p) => names.includes(p.name));
  await Promise.all(state.processes.filter((p) => !BASE.includes(p.name)).map(stop));
  await Promise.all(byName(['kwok', 'kube-scheduler', 'kube-controller-manager']).map(stop));
  for (const p of byName(['kube-apiserver'])) await stop(p);
  for (const p of byName(['etcd'])) await stop(p);
  for (const name of [STATE, 'kubeconfig', 'pki', 'etcd']) rmSync(join(dir, name), { recursive: true, force: true });
  return stopped;
}

function result(dir: string, state: State, started: boolean): DevCluster {
  const { kubeconfig, bin, server, processes, endpoints = {} } = state;
  return { kubeconfig, bin, server, dir, processes, started, endpoints };
}

function writeState(dir: string, state: State): void {
  const tmp = join(dir, `${STATE}.tmp`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, join(dir, STATE));
}

/** An exclusive lock on DIR for the duration of fn, so that two `up`s never start two clusters. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 30 * 60_000; // an `up` may be building the toolchain
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
        rmSync(lock, { force: true }); // left behind by a process that died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by pid ${holder}`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return (lines[lines.length - 1] ?? '').slice(0, 300);
  } catch {
    return '(no log)';
  }
}
