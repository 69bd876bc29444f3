// Shared harness for e2e suites: one real dev cluster per test file (or the one named by
// KUBE_LATCH_E2E_DIR, left running), kubectl and helm bound to its kubeconfig, apply and wait helpers.
//
//   let c: TestCluster;
//   before(async () => { c = await startCluster(); });
//   after(() => c.stop());
//   test('...', async () => { const ns = await c.namespace('ssa'); await c.apply(obj, { namespace: ns }); ... });
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { down, up } from '../../../src/devcluster/index.ts';
import type { ExtraName } from '../../../src/devcluster/tools/extras.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** written to stdin */
  input?: string;
  /** extra environment variables */
  env?: Record<string, string>;
  /** resolve with a non-zero exit code instead of throwing */
  allowFail?: boolean;
  timeoutMs?: number;
}

export interface ApplyOptions {
  namespace?: string;
  /** server-side apply (default: client-side `kubectl apply`) */
  serverSide?: boolean;
  fieldManager?: string;
  /** --force-conflicts for server-side apply */
  force?: boolean;
  dryRun?: 'server' | 'client';
}

export interface TestCluster {
  dir: string;
  kubeconfig: string;
  server: string;
  /** folder holding kubectl, helm and the control-plane binaries */
  bin: string;
  /** what the extras serve, e.g. git: http://127.0.0.1:P (bare repositories under DIR/git) */
  endpoints: Record<string, string>;
  kubectl(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** the control plane's helm (Helm 3), or `opts.binary` (Helm 4) with the same kubeconfig and homes */
  helm(args: string[], opts?: RunOptions & { binary?: string }): Promise<RunResult>;
  /** `kubectl apply -f -` of YAML text or objects (several objects become one multi-document stream) */
  apply(manifest: string | object | object[], opts?: ApplyOptions & RunOptions): Promise<RunResult>;
  /** `kubectl get ARGS -o json`, parsed */
  getJson<T = any>(args: string[]): Promise<T>;
  /** creates a namespace with a unique name starting with prefix, and returns its name */
  namespace(prefix: string, labels?: Record<string, string>): Promise<string>;
  /** downs the cluster and removes its temp dir, unless it came from KUBE_LATCH_E2E_DIR */
  stop(): Promise<void>;
}

/** Runs a program without a shell; throws (with its stderr) on a non-zero exit unless allowFail. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? 128, stdout, stderr };
      if (res.code !== 0 && !opts.allowFail) {
        const shown = [cmd.split('/').pop(), ...args].join(' ');
        reject(new Error(`${shown} exited ${code ?? signal}: ${stderr.trim() || stdout.trim()}`));
      } else resolve(res);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Polls fn until it returns something other than undefined/false/null; throws after timeoutMs naming `what`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? `; last error: ${(lastError as Error).message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 60_000} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/** Starts (or joins, with KUBE_LATCH_E2E_DIR) a dev cluster. Progress lines are kept and shown on failure. */
export async function startCluster(opts: { nodes?: number; with?: readonly ExtraName[] } = {}): Promise<TestCluster> {
  const shared = process.env['KUBE_LATCH_E2E_DIR'];
  const dir = shared || mkdtempSync(join(tmpdir(), 'kube-latch-e2e-'));
  const lines: string[] = [];
  let cluster;
  try {
    cluster = await up({ dir, nodes: opts.nodes ?? 3, with: opts.with ?? [], progress: (l) => lines.push(l) });
  } catch (err) {
    if (!shared) rmSync(dir, { recursive: true, force: true });
    throw new Error(`dev cluster did not start: ${(err as Error).message}\n${lines.join('\n')}`);
  }
  const { kubeconfig, server, bin, endpoints } = cluster;
  const env = {
    KUBECONFIG: kubeconfig,
    // helm keeps its repositories and cache under DIR, not in the user's home
    HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
    HELM_DATA_HOME: join(dir, 'helm', 'data'),
  };
  const kubectl = (args: string[], o: RunOptions = {}): Promise<RunResult> =>
    run(join(bin, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { ...o, env: { ...env, ...o.env } });
  const helm = (args: string[], o: RunOptions & { binary?: string } = {}): Promise<RunResult> =>
    run(o.binary ?? join(bin, 'helm'), ['--kubeconfig', kubeconfig, ...args], { ...o, env: { ...env, ...o.env } });

  return {
    dir,
    kubeconfig,
    server,
    bin,
    endpoints,
    kubectl,
    helm,
    apply(manifest, o = {}) {
      const args = ['apply', '-f', '-'];
      if (o.namespace) args.push('--namespace', o.namespace);
      if (o.serverSide) args.push('--server-side');
      if (o.fieldManager) args.push(`--field-manager=${o.fieldManager}`);
      if (o.force) args.push('--force-conflicts');
      if (o.dryRun) args.push(`--dry-run=${o.dryRun}`);
      return kubectl(args, { ...o, input: toYaml(manifest) });
    },
    async getJson(args) {
      return JSON.parse((await kubectl(['get', ...args, '-o', 'json'])).stdout);
    },
    async namespace(prefix, labels = {}) {
      const name = `${prefix}-${randomBytes(3).toString('hex')}`;
      await kubectl(['apply', '-f', '-'], { input: toYaml({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }) });
      // Pods need the namespace's default ServiceAccount, which the controller-manager creates shortly after.
      await waitFor(`ServiceAccount ${name}/default`, async () => (await kubectl(['get', 'serviceaccount', 'default', '-n', name], { allowFail: true })).code === 0);
      return name;
    },
    async stop() {
      if (shared) return;
      await down({ dir, progress: () => {} });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** YAML text as-is; one object or a list of objects as a multi-document stream. */
export function toYaml(manifest: string | object | object[]): string {
  if (typeof manifest === 'string') return manifest;
  const docs = Array.isArray(manifest) ? manifest : [manifest];
  return docs.map((d) => stringify(d)).join('---\n');
}
