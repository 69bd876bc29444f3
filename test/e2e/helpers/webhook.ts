// The real webhook for e2e suites: `kube-latch webhook` spawned as a child process with a fresh CA and a
// loopback serving certificate, and registered with the dev cluster's apiserver exactly as DESIGN §5 says.
//
//   const wh = await startLocalWebhook({ cluster: c });
//   const reg = await registerWebhook(c, { url: wh.url, caBundle: wh.caPem });
//   ... applies now pass through the webhook ...
//   await reg.remove(); await wh.stop();
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCA, createLeaf } from '../../../src/certs/authority.ts';
import { waitFor, type TestCluster } from './cluster.ts';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
export const ENABLED_LABEL = 'kube-latch.io/enabled';
export const DECLARED = 'kube-latch.io/declared';

export interface LocalWebhook {
  /** HTTPS port of POST /mutate (kept across restart()) */
  port: number;
  /** plain-HTTP port of /healthz, /readyz, /metrics */
  metricsPort: number;
  /** https://127.0.0.1:PORT/mutate */
  url: string;
  /** PEM of the CA that signed the serving certificate: the caBundle */
  caPem: string;
  /** pid of the current child */
  pid(): number;
  /** the child's pino JSON lines so far, parsed (every start appends) */
  logs(): Array<Record<string, unknown>>;
  /** the text of GET /metrics */
  metrics(): Promise<string>;
  /** SIGTERM and wait for exit (a graceful drain), then remove the cert dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: an abrupt outage. The cert dir stays, so restart() can follow. */
  kill(): Promise<void>;
  /** starts the child again on the same ports with the same certificate; resolves once /readyz is ok */
  restart(): Promise<void>;
}

export interface StartWebhookOptions {
  /** its log is also teed to `DIR/logs/webhook-PORT.log` of this cluster (kept after stop, like the others) */
  cluster?: Pick<TestCluster, 'dir'>;
  /** extra CLI flags, e.g. ['--log-level', 'debug'] or ['--tolerance', '3'] */
  args?: string[];
}

const live = new Set<ChildProcess>();
const certDirs = new Set<string>();
// A test process that dies without calling stop() (a failed before(), the runner's timeout, Ctrl-C) must not
// leave webhooks behind: kill them on exit, and on a terminating signal before dying of it as usual.
const killAll = () => {
  for (const c of live) c.kill('SIGKILL');
  for (const d of certDirs) rmSync(d, { recursive: true, force: true });
};
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAll();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

/** Spawns `node src/cli/main.ts webhook` on free loopback ports and resolves once /readyz answers ok. */
export async function startLocalWebhook(opts: StartWebhookOptions = {}): Promise<LocalWebhook> {
  const certDir = mkdtempSync(join(tmpdir(), 'kube-latch-webhook-'));
  certDirs.add(certDir);
  const ca = createCA({ commonName: 'kube-latch-e2e-ca', validitySeconds: 24 * 3600 });
  const leaf = createLeaf(ca, { commonName: 'kube-latch-e2e', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validitySeconds: 24 * 3600 });
  writeFileSync(join(certDir, 'tls.crt'), leaf.cert);
  writeFileSync(join(certDir, 'tls.key'), leaf.key, { mode: 0o600 });

  const lines: Array<Record<string, unknown>> = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let ports = { port: 0, metricsPort: 0 };
  const tee = opts.cluster ? fileSink(opts.cluster.dir) : undefined;

  const spawnChild = async (): Promise<void> => {
    const args = [MAIN, 'webhook', '--port', String(ports.port), '--metrics-port', String(ports.metricsPort)];
    args.push('--cert-dir', certDir, '--bind-address', '127.0.0.1', ...(opts.args ?? []));
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    let stderr = '';
    let exitInfo: string | undefined;
    exited = new Promise((resolve) =>
      c.once('exit', (code, signal) => {
        live.delete(c);
        exitInfo = `exited ${code ?? signal}`;
        resolve();
      }),
    );
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let partial = '';
    let listening: { port: number; metricsPort: number } | undefined;
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      tee?.(d);
      const parts = (partial + d).split('\n');
      partial = parts.pop()!;
      for (const l of parts) {
        if (l.trim() === '') continue;
        let rec: Record<string, unknown>;
        try {
          rec = JSON.parse(l) as Record<string, unknown>;
        } catch {
          rec = { msg: l };
        }
        lines.push(rec);
        if (rec['msg'] === 'webhook listening') listening = { port: Number(rec['port']), metricsPort: Number(rec['metricsPort']) };
      }
    });
    const bound = await waitFor(
      'the webhook to listen',
      () => {
        if (exitInfo) throw new Error(`webhook ${exitInfo}: ${stderr.trim()}`);
        return listening;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    ).catch((e: Error) => {
      c.kill('SIGKILL');
      throw new Error(`${e.message}\nstderr: ${stderr.trim()}`);
    });
    ports = bound;
    await waitFor('webhook /readyz', async () => (await httpGet(ports.metricsPort, '/readyz')).status === 200, { timeoutMs: 10_000, intervalMs: 50 });
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };

  try {
    await spawnChild();
  } catch (e) {
    rmSync(certDir, { recursive: true, force: true });
    certDirs.delete(certDir);
    throw e;
  }
  let stopped = false;
  return {
    port: ports.port,
    metricsPort: ports.metricsPort,
    url: `https://127.0.0.1:${ports.port}/mutate`,
    caPem: ca.cert,
    pid: () => child?.pid ?? -1,
    logs: () => lines,
    async metrics() {
      const r = await httpGet(ports.metricsPort, '/metrics');
      if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
      return r.body;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await signal('SIGTERM');
      rmSync(certDir, { recursive: true, force: true });
      certDirs.delete(certDir);
    },
    kill: () => signal('SIGKILL'),
    async restart() {
      if (stopped) throw new Error('restart() after stop()');
      await signal('SIGKILL');
      await spawnChild();
    },
  };
}

function fileSink(clusterDir: string): (chunk: string) => void {
  const dir = join(clusterDir, 'logs');
  mkdirSync(dir, { recursive: true });
  const out = createWriteStream(join(dir, `webhook-${process.pid}.log`), { flags: 'a' });
  out.on('error', () => {});
  return (chunk) => out.write(chunk);
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

export interface RegisterOptions {
  /** https://127.0.0.1:PORT/mutate */
  url: string;
  /** PEM (it is base64-encoded here) */
  caBundle: string;
  /** the MutatingWebhookConfiguration's name (default kube-latch-e2e) */
  name?: string;
  /** default: NotIn kube-system, kube-node-lease and releaseNamespace */
  namespaceSelector?: object;
  /** the namespace the chart would be installed in, excluded by the default namespaceSelector */
  releaseNamespace?: string;
  failurePolicy?: 'Ignore' | 'Fail';
  /** where the readiness probe's dry-run Deployment is created (default "default") */
  probeNamespace?: string;
}

export interface Registration {
  name: string;
  /** the object as applied */
  config: Record<string, unknown>;
  /** deletes the MutatingWebhookConfiguration */
  remove(): Promise<void>;
}

/** The MutatingWebhookConfiguration of DESIGN §5, pointing at a url. */
export function webhookConfiguration(o: RegisterOptions): Record<string, unknown> {
  const release = o.releaseNamespace ?? 'kube-latch';
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name ?? 'kube-latch-e2e' },
    webhooks: [
      {
        name: 'replicas.kube-latch.io',
        admissionReviewVersions: ['v1'],
        clientConfig: { url: o.url, caBundle: Buffer.from(o.caBundle).toString('base64') },
        // The workloads themselves, never */scale: the HPA writes through the scale subresource.
        rules: [
          { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments', 'statefulsets'], scope: 'Namespaced' },
          { apiGroups: ['argoproj.io'], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['rollouts'], scope: 'Namespaced' },
        ],
        objectSelector: { matchLabels: { [ENABLED_LABEL]: 'true' } },
        namespaceSelector: o.namespaceSelector ?? {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...new Set(['kube-system', 'kube-node-lease', release])] }],
        },
        failurePolicy: o.failurePolicy ?? 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: 5,
        reinvocationPolicy: 'Never',
        matchPolicy: 'Equivalent',
      },
    ],
  };
}

/**
 * Applies the configuration, then waits until the apiserver really calls the webhook: a server dry-run
 * create of an opted-in Deployment comes back carrying kube-latch.io/declared (the apiserver's webhook
 * registry picks up a new configuration asynchronously, within about a second).
 */
export async function registerWebhook(cluster: Pick<TestCluster, 'apply' | 'kubectl'>, o: RegisterOptions): Promise<Registration> {
  const config = webhookConfiguration(o);
  const name = (config['metadata'] as { name: string }).name;
  await cluster.apply(config, { serverSide: true, fieldManager: 'kube-latch-e2e', force: true });
  const probe = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'kube-latch-probe', namespace: o.probeNamespace ?? 'default', labels: { [ENABLED_LABEL]: 'true' } },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'kube-latch-probe' } },
      template: { metadata: { labels: { app: 'kube-latch-probe' } }, spec: { containers: [{ name: 'c', image: 'probe' }] } },
    },
  };
  await waitFor(
    `the apiserver to call webhook ${name}`,
    async () => {
      const r = await cluster.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(probe) });
      return JSON.parse(r.stdout)?.metadata?.annotations?.[DECLARED] === '3';
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  return {
    name,
    config,
    remove: async () => {
      await cluster.kubectl(['delete', 'mutatingwebhookconfiguration', name, '--ignore-not-found', '--wait=false']);
    },
  };
}

export interface Exchange {
  /** the AdmissionReview exactly as kube-apiserver sent it */
  review: any;
  /** the webhook's answer, parsed */
  response: any;
  status: number;
}

export interface CapturingProxy {
  url: string;
  caPem: string;
  /** every request relayed so far */
  exchanges: Exchange[];
  close(): Promise<void>;
}

/**
 * An HTTPS relay in front of a LocalWebhook that keeps each AdmissionReview and its answer: register the
 * proxy's url and caBundle instead of the webhook's to see what the apiserver really sends.
 */
export async function startCapturingProxy(target: Pick<LocalWebhook, 'port' | 'caPem'>): Promise<CapturingProxy> {
  const ca = createCA({ commonName: 'kube-latch-e2e-proxy-ca', validitySeconds: 24 * 3600 });
  const leaf = createLeaf(ca, { commonName: 'kube-latch-e2e-proxy', ipAddresses: ['127.0.0.1'], validitySeconds: 24 * 3600 });
  const exchanges: Exchange[] = [];
  const server = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const out = httpsRequest(
        { host: '127.0.0.1', port: target.port, method: 'POST', path: req.url, ca: target.caPem, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (up) => {
          const back: Buffer[] = [];
          up.on('data', (d: Buffer) => back.push(d));
          up.on('end', () => {
            const text = Buffer.concat(back).toString('utf8');
            try {
              exchanges.push({ review: JSON.parse(body.toString('utf8')), response: JSON.parse(text), status: up.statusCode ?? 0 });
            } catch {
              exchanges.push({ review: body.toString('utf8'), response: text, status: up.statusCode ?? 0 });
            }
            res.writeHead(up.statusCode ?? 502, { 'content-type': 'application/json' });
            res.end(text);
          });
        },
      );
      out.on('error', (e) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: e.message }));
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/mutate`,
    caPem: ca.cert,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
