// `kube-latch webhook --certs self-signed`, the real CLI, end to end on a dev cluster.
//
// The chart's objects are installed as Helm would (release namespace, ServiceAccount, ClusterRole/Role and
// bindings, the EMPTY CA Secret, the MutatingWebhookConfiguration with NO caBundle), except that the webhook
// is reached by url (https://127.0.0.1:PORT/mutate) instead of the Service. Then `node src/cli/main.ts
// webhook` is spawned with the chart's container environment (namespace filled in, as the kubelet would),
// the flags a local run needs on top, and nothing but the chart ServiceAccount's token in its kubeconfig.
// With a 20 s leaf (renewed every ~13 s) and a 60 s CA (renewed at 40 s), ~65 s of continuous applies see
// the leaf rotate several times and the CA once, with both CAs in caBundle during the overlap.
//
// What proves what:
// - the Secret's data and the configuration's caBundle start empty and only the child writes them;
// - every apply declares a value that only a successful webhook call keeps and records (in-band UPDATE:
//   live 4 kept, `kube-latch.io/declared` set), so a failed call shows up in that apply;
// - the apiserver's own counters (`apiserver_admission_webhook_*`) count failed and fail-open calls, which
//   `failurePolicy: Ignore` otherwise hides;
// - the apiserver re-handshakes only for a new connection or a new caBundle, so a prober also opens a fresh
//   TLS connection every 250 ms, verified against the caBundle the apiserver holds at that moment: that is
//   what any new apiserver connection meets, and it sees each leaf that was served;
// - SIGTERM ends the child with exit 0.
//
// Then `helm upgrade --force` (as Argo CD `Replace=true` does it, `kubectl replace` of the chart's
// rendering): the Secret and caBundle are emptied under load, and the webhook must repair both at once,
// keeping the served leaf's CA trusted. And a deleted CA Secret: a new webhook exits with the remedy.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CA_CERT_KEY, CA_KEY_KEY } from '../../src/certs/ca-store.ts';
import { parseBundle } from '../../src/certs/schedule.ts';
import { find, parseManifests, renderText, type K8sObject } from '../unit/chart/helm.ts';
import { freePort } from '../helpers/tls.ts';
import { serviceAccountKubeconfig, sum, webhookCounters, type Labels } from './helpers/apiserver.ts';
import { startCluster, toYaml, waitFor, type TestCluster } from './helpers/cluster.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RELEASE = 'kl';
const FULL = `${RELEASE}-kube-latch`;
const CA_SECRET = `${FULL}-self-signed-ca`;
const LEAF_SECONDS = 20;
const CA_SECONDS = 60;
const LOAD_SECONDS = 65;
const WORKLOADS = 3;

let c: TestCluster;
const tmp = mkdtempSync(join(tmpdir(), 'kube-latch-selfsigned-cli-'));
let child: ChildProcess | undefined;
// A test process that dies early must not leave the webhook behind.
const killChild = () => child?.kill('SIGKILL');
process.once('exit', killChild);

before(async () => {
  c = await startCluster({ nodes: 1 });
});
after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('kube-latch webhook --certs self-signed fills the CA Secret, patches caBundle, is called, and rotates leaf and CA with no failed call', async (t) => {
  const ns = await c.namespace('latch');
  const apps = await c.namespace('apps');
  const port = await freePort();
  let metricsPort = await freePort();
  while (metricsPort === port) metricsPort = await freePort();

  const { chart, hooks } = await installChart(ns, port);
  const secretBefore = await c.getJson(['secret', CA_SECRET, '-n', ns]);
  assert.equal(Object.keys(secretBefore.data ?? {}).length, 0, 'the chart creates the CA Secret empty');
  assert.ok(bundles(await c.getJson(['mutatingwebhookconfiguration', FULL])).every((b) => b.length === 0), 'caBundle starts empty');

  const spawned = Date.now();
  const wh = await startWebhookCli(chart, ns, port, metricsPort, ['--cert-lifetime', `${LEAF_SECONDS}s`, '--ca-lifetime', `${CA_SECONDS}s`]);
  const { proc, logs, logged, exited } = wh;

  // 1. Ready: listening, and /readyz answers.
  await wh.ready();
  const readyMs = Date.now() - spawned;

  // 2. The CA Secret is filled: a CA certificate with its key, living CA_SECONDS.
  const secret = await c.getJson(['secret', CA_SECRET, '-n', ns]);
  const caPem = Buffer.from(secret.data?.[CA_CERT_KEY] ?? '', 'base64').toString('utf8');
  assert.ok(caPem && secret.data?.[CA_KEY_KEY], `the webhook filled ${CA_SECRET}: keys ${Object.keys(secret.data ?? {}).join(',')}`);
  const ca0 = new X509Certificate(caPem);
  assert.ok(ca0.ca, 'the Secret holds a CA certificate');
  const caLife = (ca0.validToDate.getTime() - Date.now()) / 1000;
  assert.ok(caLife > CA_SECONDS - 30 && caLife <= CA_SECONDS, `--ca-lifetime ${CA_SECONDS}s: ${caLife.toFixed(1)} s left`);
  assert.equal(logged('self-signed: CA filled the empty or unreadable Secret').length, 1);

  // 3. caBundle was patched by the webhook itself (nobody else writes it here), on every webhook.
  const cfg = await c.getJson(['mutatingwebhookconfiguration', FULL]);
  assert.ok(bundles(cfg).every((b) => b.some((x) => x.fingerprint === ca0.fingerprint256)), 'every webhook\'s caBundle trusts the Secret\'s CA');
  assert.ok(logged('self-signed: caBundle updated').length >= 1);

  // 4. The served leaf verifies against that caBundle as 127.0.0.1, with the Service's names and serverAuth.
  const leaf0 = await handshake(port, bundlePem(cfg));
  assert.ok(leaf0.checkIssued(ca0) && leaf0.verify(ca0.publicKey), 'the leaf is signed by the Secret\'s CA');
  for (const name of [FULL, `${FULL}.${ns}`, `${FULL}.${ns}.svc`, `${FULL}.${ns}.svc.cluster.local`]) assert.match(leaf0.subjectAltName ?? '', new RegExp(`DNS:${name.replace(/\./g, '\\.')}(,|$)`));
  assert.match(leaf0.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(leaf0.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth EKU');
  const leafLife = (leaf0.validToDate.getTime() - Date.now()) / 1000;
  assert.ok(leafLife > 0 && leafLife <= LEAF_SECONDS, `--cert-lifetime ${LEAF_SECONDS}s: ${leafLife.toFixed(1)} s left`);

  // 5. The apiserver calls it: an opted-in create is mutated (the declared memory is recorded). The
  //    apiserver picks up a caBundle change asynchronously, so the first calls may still fail open.
  await waitFor('the apiserver to call the webhook', () => webhookCalled(apps), { timeoutMs: 30_000, intervalMs: 200 });

  // 6. Load, while the leaf and then the CA rotate.
  const cas = new Map<string, X509Certificate>([[ca0.fingerprint256, ca0]]);
  const probedLeaves = new Map<string, X509Certificate>([[leaf0.serialNumber, leaf0]]);
  const probeFailures: string[] = [];
  let probes = 0;
  let maxTrusted = 0;
  const secretCAs = new Set<string>([ca0.fingerprint256]);
  const expiries = new Set<string>();
  const before = await webhookCounters(c, hooks);
  const started = Date.now();
  const running = () => Date.now() - started < LOAD_SECONDS * 1000;
  const at = () => `+${((Date.now() - started) / 1000).toFixed(1)} s`;

  const prober = (async () => {
    while (running()) {
      const current = await c.getJson(['mutatingwebhookconfiguration', FULL]);
      for (const b of bundles(current)) {
        maxTrusted = Math.max(maxTrusted, b.length);
        for (const x of b) if (!cas.has(x.fingerprint)) cas.set(x.fingerprint, new X509Certificate(x.pem));
      }
      probes++;
      try {
        const leaf = await handshake(port, bundlePem(current));
        probedLeaves.set(leaf.serialNumber, leaf);
      } catch (err) {
        probeFailures.push(`${at()}: ${(err as Error).message}`);
      }
      await sleep(250);
    }
  })();
  const watcher = (async () => {
    while (running()) {
      const s = await c.getJson(['secret', CA_SECRET, '-n', ns]);
      secretCAs.add(new X509Certificate(Buffer.from(s.data[CA_CERT_KEY], 'base64').toString('utf8')).fingerprint256);
      const m = /^kube_latch_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec((await httpGet(metricsPort, '/metrics')).body);
      if (m) expiries.add(m[1]!);
      await sleep(1000);
    }
  })();

  const outcomes = await applyLoad(apps, running, started);
  const applies = outcomes.length;
  const failures = outcomes.filter((o) => o.failure).map((o) => o.failure!);
  await prober;
  await watcher;
  const afterLoad = await webhookCounters(c, hooks);
  const loadSeconds = (Date.now() - started) / 1000;

  // 7. SIGTERM: drain and exit 0.
  const stopAt = Date.now();
  proc.kill('SIGTERM');
  const exit = await exited;
  const stopMs = Date.now() - stopAt;

  const delta = (k: keyof typeof before, where: (l: Labels) => boolean = () => true) => sum(afterLoad[k], where) - sum(before[k], where);
  const calls = delta('requests');
  const notOk = delta('requests', (l) => l['code'] !== '200');
  const failOpen = delta('failOpen');
  const rejections = delta('rejections');
  const caRenewals = logged('self-signed: CA renewed at 2/3 of its life');
  const issued = logged('self-signed: serving certificate issued');
  const issuers = [...probedLeaves.values()].map((leaf) => [...cas.values()].find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))?.fingerprint256);
  const errors = logs.filter((l) => typeof l['level'] === 'number' && l['level'] >= 50);
  const summary = {
    readyMs,
    loadSeconds: Math.round(loadSeconds),
    applies,
    applyFailures: failures.length,
    apiserverWebhookCalls: calls,
    apiserverNon200: notOk,
    apiserverFailOpen: failOpen,
    apiserverRejections: rejections,
    probes,
    probeFailures: probeFailures.length,
    leavesIssued: issued.length,
    leafReasons: issued.map((l) => l['reason']),
    leavesSeenByProbes: probedLeaves.size,
    casInSecret: secretCAs.size,
    casInBundle: cas.size,
    caRenewals: caRenewals.length,
    maxCAsTrustedAtOnce: maxTrusted,
    leafIssuers: new Set(issuers).size,
    servedExpiries: expiries.size,
    errorLogs: errors.length,
    exit: exit.code ?? exit.signal,
    stopMs,
    // connections the drain had to cut at its 20 s grace (a connection the apiserver opened but never used)
    drainCut: logged('in-flight requests did not finish in time; closing their connections').length,
  };
  t.diagnostic(`self-signed CLI: ${JSON.stringify(summary)}`);
  process.stderr.write(`cert-selfsigned-cli summary ${JSON.stringify(summary)}\n`);

  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${applies} applies did not go through the webhook`);
  assert.equal(notOk, 0, 'apiserver_admission_webhook_request_total with a code other than 200');
  assert.equal(failOpen, 0, 'apiserver_admission_webhook_fail_open_count');
  assert.equal(rejections, 0, 'apiserver_admission_webhook_rejection_count');
  assert.deepEqual(probeFailures.slice(0, 5), [], `${probeFailures.length} of ${probes} fresh handshakes failed`);
  assert.ok(applies >= 45, `enough load: ${applies} applies`);
  assert.ok(calls >= applies, `the apiserver called the webhook on every apply: ${calls} calls for ${applies} applies`);
  // What rotated: the leaf several times, the CA once (renewed at 40 s of 60), both CAs trusted in the overlap.
  assert.ok(probedLeaves.size >= 4, `leaves met by fresh handshakes: ${probedLeaves.size}`);
  assert.ok(expiries.size >= 4, `serving certificate expiries reported on /metrics: ${expiries.size}`);
  assert.ok(caRenewals.length >= 1, 'the CA was renewed at 2/3 of its life');
  assert.ok(secretCAs.size >= 2 && cas.size >= 2, `CAs in the Secret ${secretCAs.size}, in caBundle ${cas.size}`);
  assert.equal(maxTrusted, 2, 'old and new CA trusted together during the overlap, never more');
  assert.equal(issuers.filter((x) => x === undefined).length, 0, 'a served leaf was signed by a CA that caBundle never trusted');
  assert.ok(new Set(issuers).size >= 2, `leaves signed by ${new Set(issuers).size} CAs`);
  // Clean run and clean stop.
  assert.deepEqual(errors.slice(0, 3), [], 'error-level log lines');
  assert.doesNotMatch(JSON.stringify(logs) + wh.stderr(), /forbidden|\b403\b/i, 'an RBAC denial with the chart ServiceAccount');
  assert.equal(exit.code, 0, `SIGTERM exits 0 (stderr: ${wh.stderr().trim().slice(-500)})`);
  assert.equal(logged('webhook stopped').length, 1);
});

test('helm upgrade --force empties the CA Secret and caBundle under load: caBundle is repaired at once with the served leaf\'s CA, every call after the repair goes through, and the leaf moves to the new CA', async (t) => {
  const ns = await c.namespace('force');
  const apps = await c.namespace('apps');
  const port = await freePort();
  let metricsPort = await freePort();
  while (metricsPort === port) metricsPort = await freePort();
  const { chart, hooks } = await installChart(ns, port);
  // The chart's own lifetimes (1 year CA, 30 days leaf): the new leaf waits the longest propagation delay, 30 s.
  const wh = await startWebhookCli(chart, ns, port, metricsPort);
  await wh.ready();
  const ca0 = new X509Certificate(Buffer.from((await c.getJson(['secret', CA_SECRET, '-n', ns])).data[CA_CERT_KEY], 'base64').toString('utf8'));
  const bundle0 = bundles(await c.getJson(['mutatingwebhookconfiguration', FULL]))[0]!.map((x) => x.fingerprint).join();
  await waitFor('the apiserver to call the webhook', () => webhookCalled(apps), { timeoutMs: 30_000, intervalMs: 200 });

  const before = await webhookCounters(c, hooks);
  const started = Date.now();
  let replaced: { start: number; done: number } | undefined;
  /** the first read of the configuration, started after the replace, whose caBundle is filled again */
  let bundleBack: { at: number; cas: string[] } | undefined;
  let movedAt: number | undefined;
  let stopAt = Infinity;
  // Capped for a webhook that never recovers (today's main took about 80 s).
  const running = () => Date.now() < stopAt && Date.now() - started < 180_000;
  const probes: Array<{ at: number; failure?: string }> = [];
  const load = applyLoad(apps, running, started);
  const prober = (async () => {
    while (running()) {
      const readAt = Date.now();
      const cfg = await c.getJson(['mutatingwebhookconfiguration', FULL]);
      const cas = bundles(cfg)[0]!.map((x) => x.fingerprint);
      if (replaced && readAt > replaced.done && !bundleBack && cas.length > 0 && cas.join() !== bundle0) bundleBack = { at: readAt, cas };
      try {
        const leaf = await handshake(port, bundlePem(cfg));
        probes.push({ at: readAt });
        if (replaced && !movedAt && !leaf.verify(ca0.publicKey)) {
          movedAt = Date.now();
          stopAt = movedAt + 5000; // some load on the new leaf too
        }
      } catch (err) {
        probes.push({ at: readAt, failure: `+${((readAt - started) / 1000).toFixed(1)} s: ${(err as Error).message}` });
      }
      await sleep(250);
    }
  })();

  // Five seconds of calls, then what `helm upgrade --force` and Argo CD `Replace=true` do: replace the
  // Secret and the configuration by the chart's rendering, which has no CA and no caBundle.
  await sleep(5000);
  const start = Date.now();
  await c.kubectl(['replace', '-f', '-'], { input: toYaml([find(chart, 'Secret'), urlWebhookConfig(chart, port)]) });
  replaced = { start, done: Date.now() };
  const outcomes = await load;
  await prober;
  const afterLoad = await webhookCounters(c, hooks);
  const metrics = (await httpGet(metricsPort, '/metrics')).body;
  wh.proc.kill('SIGTERM');
  const exit = await wh.exited;

  const delta = (k: keyof typeof before, where: (l: Labels) => boolean = () => true) => sum(afterLoad[k], where) - sum(before[k], where);
  const ca1 = new X509Certificate(Buffer.from((await c.getJson(['secret', CA_SECRET, '-n', ns])).data[CA_CERT_KEY], 'base64').toString('utf8'));
  const repairLog = wh.logs.find((l) => String(l['msg']).startsWith('self-signed: caBundle had lost the CA of the served certificate'));
  const repairedAt = repairLog ? new Date(repairLog['time']).getTime() : undefined;
  // The webhook's own account of the episode: its certificate log lines from the replace on, ms after it started.
  const timeline = wh.logs
    .filter((l) => new Date(l['time']).getTime() >= replaced!.start && String(l['msg']).startsWith('self-signed:'))
    .map((l) => `${new Date(l['time']).getTime() - replaced!.start} ms ${l['msg']}${l['reason'] ? ` (${l['reason']})` : ''}`);
  const backAt = bundleBack?.at ?? Infinity;
  const failedApplies = outcomes.filter((o) => o.failure);
  const failedProbes = probes.filter((p) => p.failure);
  const repairCount = (object: string) => Number(new RegExp(`^kube_latch_tls_ca_repairs_total\\{object="${object}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
  const summary = {
    seconds: Math.round((Date.now() - started) / 1000),
    replaceMs: replaced!.done - replaced!.start,
    // from the start of `kubectl replace` to the webhook's repair write (its log line's time)
    repairMs: repairedAt !== undefined ? repairedAt - replaced!.start : null,
    // from the start of `kubectl replace` to the first read, started after it finished, with caBundle filled again
    bundleBackMs: bundleBack ? bundleBack.at - replaced!.start : null,
    leafMovedMs: movedAt !== undefined ? movedAt - replaced!.start : null,
    applies: outcomes.length,
    applyFailures: failedApplies.length,
    applyFailuresAfterRepair: failedApplies.filter((o) => started + o.startedAt >= backAt).length,
    apiserverWebhookCalls: delta('requests'),
    apiserverNon200: delta('requests', (l) => l['code'] !== '200'),
    apiserverFailOpen: delta('failOpen'),
    apiserverRejections: delta('rejections'),
    probes: probes.length,
    probeFailures: failedProbes.length,
    probeFailuresAfterRepair: failedProbes.filter((p) => p.at >= backAt).length,
    repairsCaBundle: repairCount('ca-bundle'),
    repairsCaSecret: repairCount('ca-secret'),
    timeline,
  };
  t.diagnostic(`helm upgrade --force: ${JSON.stringify(summary)}`);
  process.stderr.write(`cert-selfsigned-cli --force summary ${JSON.stringify(summary)}\n`);

  assert.notEqual(ca1.fingerprint256, ca0.fingerprint256, 'the emptied Secret was refilled with a new CA');
  assert.ok(bundleBack, 'caBundle was filled again');
  assert.deepEqual(new Set(bundleBack.cas), new Set([ca1.fingerprint256, ca0.fingerprint256]), 'the repaired caBundle trusts the new CA and the served leaf\'s (old) CA');
  assert.deepEqual(failedApplies.filter((o) => started + o.startedAt >= backAt).map((o) => o.failure).slice(0, 5), [], 'an apply after the repair did not go through the webhook');
  assert.deepEqual(failedProbes.filter((p) => p.at >= backAt).map((p) => p.failure).slice(0, 5), [], 'a fresh handshake after the repair failed');
  assert.ok(movedAt, 'the leaf moved to the new CA');
  assert.equal(summary.repairsCaBundle, 1, 'kube_latch_tls_ca_repairs_total{object="ca-bundle"}');
  assert.equal(summary.repairsCaSecret, 1, 'kube_latch_tls_ca_repairs_total{object="ca-secret"}');
  assert.ok(repairLog, 'the repair is logged');
  assert.ok(wh.logs.some((l) => String(l['msg']).startsWith('self-signed: the CA Secret had lost its CA')), 'the refill is logged');
  assert.deepEqual(wh.logs.filter((l) => typeof l['level'] === 'number' && l['level'] >= 50).slice(0, 3), [], 'error-level log lines');
  assert.doesNotMatch(JSON.stringify(wh.logs) + wh.stderr(), /forbidden|\b403\b/i, 'an RBAC denial (the watches) with the chart ServiceAccount');
  assert.equal(exit.code, 0);
});

test('a deleted CA Secret: a new webhook exits 1 with one line that says to re-run helm upgrade', async () => {
  const ns = await c.namespace('nosecret');
  const port = await freePort();
  let metricsPort = await freePort();
  while (metricsPort === port) metricsPort = await freePort();
  const { chart } = await installChart(ns, port);
  await c.kubectl(['delete', 'secret', CA_SECRET, '-n', ns]);
  const wh = await startWebhookCli(chart, ns, port, metricsPort);
  const exit = await wh.exited;
  assert.equal(exit.code, 1);
  assert.equal(
    wh.stderr(),
    `kube-latch webhook: self-signed: CA Secret ${ns}/${CA_SECRET} is missing and this service account may not create it: re-run \`helm upgrade\` (the chart creates it)\n`,
  );
});

/** Whether an opted-in create is mutated (the declared value is recorded), i.e. the apiserver called the webhook successfully. */
async function webhookCalled(apps: string): Promise<boolean> {
  const r = await c.kubectl(['create', '--dry-run=server', '-n', apps, '-o', 'json', '-f', '-'], { input: toYaml(deployment('probe', 3)) });
  return JSON.parse(r.stdout).metadata?.annotations?.['kube-latch.io/declared'] === '3';
}

/** The chart as installed (RBAC, ServiceAccount, the empty CA Secret, the webhook configuration without caBundle), its webhook reached by url. */
async function installChart(ns: string, port: number): Promise<{ chart: K8sObject[]; mwc: K8sObject; hooks: string[] }> {
  const chart = parseManifests(await renderText({}, { release: RELEASE, namespace: ns }));
  const installed = chart.filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Secret'].includes(o.kind));
  const mwc = urlWebhookConfig(chart, port);
  await c.apply([...installed, mwc], { serverSide: true, fieldManager: 'helm' });
  return { chart, mwc, hooks: (mwc['webhooks'] as any[]).map((w) => w.name as string) };
}

/** The chart's MutatingWebhookConfiguration as rendered (no caBundle), each webhook pointed at 127.0.0.1:port. */
function urlWebhookConfig(chart: K8sObject[], port: number): K8sObject {
  const mwc = structuredClone(find(chart, 'MutatingWebhookConfiguration')) as K8sObject;
  for (const w of mwc['webhooks'] as any[]) {
    assert.equal(w.clientConfig.caBundle, undefined, 'the chart never renders caBundle');
    w.clientConfig = { url: `https://127.0.0.1:${port}/mutate` };
  }
  return mwc;
}

interface WebhookChild {
  proc: ChildProcess;
  logs: Array<Record<string, any>>;
  logged(msg: string): Array<Record<string, any>>;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** waits for /readyz; throws if the child exits first */
  ready(): Promise<void>;
}

/**
 * Spawns `kube-latch webhook --certs self-signed` with the webhook container's environment as the chart
 * renders it (the pod's namespace filled in), nothing but the chart ServiceAccount's token, and flags for
 * what only a local run needs, which win over the environment.
 */
async function startWebhookCli(chart: K8sObject[], ns: string, port: number, metricsPort: number, extra: string[] = []): Promise<WebhookChild> {
  const container = (find(chart, 'Deployment')['spec'].template.spec.containers as any[]).find((x) => x.name === 'webhook');
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: tmp };
  for (const e of container.env as any[]) {
    if (e.name === 'HOME') continue;
    env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace' ? ns : assert.fail(`unexpected env ${e.name}`));
  }
  assert.equal(env['KUBE_LATCH_CERTS'], 'self-signed');
  assert.equal(env['KUBE_LATCH_CA_SECRET'], CA_SECRET);
  const kubeconfig = await serviceAccountKubeconfig(c, tmp, ns, FULL);
  const args = [
    MAIN, 'webhook', '--certs', 'self-signed', '--namespace', ns, '--webhook-config', FULL, '--cert-san', '127.0.0.1',
    '--kubeconfig', kubeconfig, '--port', String(port), '--metrics-port', String(metricsPort), '--bind-address', '127.0.0.1',
    ...extra,
  ];
  const logs: Array<Record<string, any>> = [];
  let stderr = '';
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l.trim()) logs.push(safeJson(l));
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    proc,
    logs,
    logged: (msg) => logs.filter((l) => l['msg'] === msg),
    stderr: () => stderr,
    exited,
    ready: async () => {
      await waitFor(
        'webhook /readyz',
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`webhook exited ${proc.exitCode ?? proc.signalCode}: ${stderr.trim()}`);
          return (await httpStatus(metricsPort, '/readyz')) === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
    },
  };
}

interface ApplyOutcome {
  /** ms since the load started */
  startedAt: number;
  /** why the apply shows no successful webhook call; undefined when it went through the webhook */
  failure?: string;
}

/**
 * Applies WORKLOADS Deployments again and again while `running()`, declaring 4 and 5 in turn: CREATE keeps
 * the declared 4; every UPDATE keeps the live count (in band) and records the new declared value. Only a
 * successful webhook call does both, so each apply shows whether the webhook answered. (A call that fails
 * open sets the declared value as live, which later calls then keep.)
 */
async function applyLoad(apps: string, running: () => boolean, started: number): Promise<ApplyOutcome[]> {
  const out: ApplyOutcome[] = [];
  const at = (t: number) => `+${((t - started) / 1000).toFixed(1)} s`;
  await Promise.all(
    Array.from({ length: WORKLOADS }, async (_, w) => {
      const name = `web-${w}`;
      let live = 4;
      for (let i = 0; running(); i++) {
        const declared = i % 2 === 0 ? 4 : 5;
        const t = Date.now();
        const r = await c.kubectl(['apply', '-n', apps, '-o', 'json', '-f', '-'], { input: toYaml(deployment(name, declared)), allowFail: true });
        const startedAt = t - started;
        if (r.code !== 0) {
          out.push({ startedAt, failure: `${name} #${i} ${at(t)}: kubectl exit ${r.code}: ${r.stderr.trim().split('\n')[0]}` });
          continue;
        }
        const obj = JSON.parse(r.stdout);
        const recorded = obj.metadata.annotations?.['kube-latch.io/declared'];
        if (recorded !== String(declared) || obj.spec.replicas !== live) {
          out.push({ startedAt, failure: `${name} #${i} ${at(t)}: declared ${declared} over live ${live}, got replicas ${obj.spec.replicas}, declared annotation ${recorded}: no successful webhook call` });
        } else out.push({ startedAt });
        live = obj.spec.replicas;
      }
    }),
  );
  return out;
}

interface BundleEntry {
  fingerprint: string;
  pem: string;
}

/** Every webhook's caBundle, parsed. */
function bundles(cfg: any): BundleEntry[][] {
  return (cfg.webhooks as any[]).map((w) => parseBundle(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')));
}

/** The first webhook's caBundle as PEM (the chart has one webhook). */
function bundlePem(cfg: any): string {
  return Buffer.from(cfg.webhooks[0].clientConfig.caBundle ?? '', 'base64').toString('utf8');
}

/** A fresh TLS connection to 127.0.0.1 verified against `ca` (chain and IP SAN); resolves the served leaf. */
function handshake(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    if (!ca) return reject(new Error('caBundle is empty'));
    const socket = connect({ host: '127.0.0.1', port, ca, minVersion: 'TLSv1.2' }, () => {
      const leaf = new X509Certificate(socket.getPeerCertificate().raw);
      socket.end();
      resolve(leaf);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
    socket.on('error', reject);
  });
}

function deployment(name: string, replicas: number): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels: { app: name, 'kube-latch.io/enabled': 'true' } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'registry.example.test/app:1' }] } },
    },
  };
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

async function httpStatus(port: number, path: string): Promise<number> {
  return (await httpGet(port, path)).status;
}

function safeJson(line: string): Record<string, any> {
  try {
    return JSON.parse(line) as Record<string, any>;
  } catch {
    return { msg: line };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
