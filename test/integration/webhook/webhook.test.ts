// `kube-latch webhook` as a child process, over real HTTPS with a generated CA: the path the apiserver takes.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fjp from 'fast-json-patch';
import { createCA } from '../../../src/certs/authority.ts';
import { freePort, httpsRequest, kubeletWrite, loopbackLeaf, makePki, postJson, presentedSerial, tempDir, until, type TestPki } from '../../helpers/tls.ts';
import { cleanEnv, getHttp } from '../../helpers/child.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');
const fixture = readFileSync(join(here, 'deployment-ssa-update.json'), 'utf8');

/** The environment without any KUBE_LATCH_* the developer may have set. */


describe('kube-latch webhook (child process, real HTTPS)', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let dir: string;
  let cleanup: () => void;
  let child: ChildProcess;
  let port: number;
  let metricsPort: number;
  let stdout = '';
  let stderr = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  before(async () => {
    pki = makePki('kube-latch-integration');
    ({ dir, cleanup } = tempDir('webhook-it'));
    await kubeletWrite(dir, pki.leaf);
    port = await freePort();
    metricsPort = await freePort();
    child = spawn(
      process.execPath,
      [main, 'webhook', '--port', String(port), '--metrics-port', String(metricsPort), '--cert-dir', dir, '--bind-address', '127.0.0.1', '--log-level', 'debug'],
      { cwd: root, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`webhook exited ${child.exitCode}: ${stderr}${stdout}`);
        return (await getHttp(metricsPort, '/readyz').catch(() => ({ status: 0 }))).status === 200;
      },
      'the webhook to become ready',
      20_000,
    );
  });

  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup();
  });

  test('answers a server-side-apply Deployment review over TLS verified against the CA', async () => {
    const r = await postJson(port, pki.ca.cert, fixture);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['content-type'], 'application/json');
    const sent = JSON.parse(fixture);
    const body = JSON.parse(r.body);
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    assert.equal(body.response.uid, sent.request.uid);
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    // git declares 20, the HPA runs 17, band(20) = 10..40: keep 17 and remember 20
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
    const patched = fjp.applyPatch(structuredClone(sent.request.object), ops, true, false).newDocument;
    assert.equal(patched.spec.replicas, 17);
    assert.equal(patched.metadata.annotations['kube-latch.io/declared'], '20');
    assert.equal(patched.metadata.annotations['deployment.kubernetes.io/revision'], '12');
    assert.equal(body.response.warnings.length, 1);
    assert.ok(body.response.warnings[0].length < 120);
    assert.match(body.response.warnings[0], /17.*20.*10-40/);
    assert.equal(body.response.auditAnnotations.decision, 'in-band');

    // the same request again (a storage-conflict retry re-runs admission on the merged request, never on
    // the patched object: reinvocationPolicy Never) gets the same answer
    const r2 = JSON.parse((await postJson(port, pki.ca.cert, sent)).body);
    assert.deepEqual(r2.response, body.response);
  });

  test('a client that trusts another CA refuses the connection', async () => {
    const other = createCA({ commonName: 'someone-else', validitySeconds: 600 });
    await assert.rejects(postJson(port, other.cert, fixture), (e: NodeJS.ErrnoException) => /SELF_SIGNED|UNABLE_TO_VERIFY|self-signed|unable to verify/i.test(`${e.code} ${e.message}`));
  });

  test('malformed input gets a one-line 400 and the process carries on', async () => {
    const r = await httpsRequest({ port, ca: pki.ca.cert, body: '{"apiVersion":', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.trimEnd().split('\n').length, 1);
    assert.equal((await getHttp(metricsPort, '/healthz')).status, 200);
  });

  test('/metrics counts the decision by rule and kind', async () => {
    const m = await getHttp(metricsPort, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /kube_latch_webhook_decisions_total\{rule="in-band",kind="Deployment"\} 2\n/); // the review and its retry
    assert.match(m.body, /kube_latch_webhook_request_duration_seconds_count\{code="200"\} 2\n/);
    assert.match(m.body, /process_cpu_seconds_total/);
  });

  test('logs are pino JSON lines carrying uid, namespace, name and rule', () => {
    const lines = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    const decision = lines.find((l) => l['uid'] === '3c1b7d52-5f0a-4a6e-9d3b-2b8f0f7e6c41' && l['rule'] === 'in-band');
    assert.ok(decision, stdout);
    assert.equal(decision['namespace'], 'shop');
    assert.equal(decision['name'], 'web');
    assert.equal(decision['level'], 30);
  });

  test('a rotated Secret (kubelet ..data swap) is served without a restart', async () => {
    const next = loopbackLeaf(pki.ca, 'kube-latch-integration');
    await kubeletWrite(dir, next);
    await until(async () => (await presentedSerial(port, pki.ca.cert)) === next.serial, 'the new certificate', 15_000);
    assert.equal((await postJson(port, pki.ca.cert, fixture)).status, 200);
  });

  test('SIGTERM drains and exits 0', async () => {
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"msg":"webhook stopped"/);
    await assert.rejects(getHttp(metricsPort, '/healthz'), /ECONNREFUSED/);
  });
});

describe('kube-latch webhook flags', { timeout: 60_000 }, () => {
  function run(args: string[], env: Record<string, string> = {}) {
    const r = spawnSync(process.execPath, [main, 'webhook', ...args], { cwd: root, env: cleanEnv(env), encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  const usage: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['a tolerance below the ladder minimum', ['--tolerance', '1.2'], {}, /1\.582/],
    ['the same through the environment', [], { KUBE_LATCH_TOLERANCE: '1.2' }, /1\.582/],
    ['an unknown ladder', ['--ladder', 'fibonacci'], {}, /ladder|fibonacci/],
    ['min above max', ['--min-replicas', '5', '--max-replicas', '2'], {}, /min-replicas 5 exceeds max-replicas 2/],
    ['a port that is not a number', ['--port', 'https'], {}, /--port must be a non-negative integer/],
    ['a port out of range', ['--metrics-port', '70000'], {}, /--metrics-port must be at most 65535/],
    ['a bind address that is not an IP', ['--bind-address', 'example.org'], {}, /--bind-address must be an IP address/],
    ['the same port twice', ['--port', '9443', '--metrics-port', '9443'], {}, /must differ/],
    ['an unknown --certs mode', ['--certs', 'acme'], {}, /--certs must be one of file, self-signed/],
    ['self-signed outside a cluster without --namespace', ['--certs', 'self-signed'], {}, /--namespace is required with --certs self-signed/],
    ['an extra workload that is not GROUP/RESOURCE', ['--extra-workload', 'Widget'], {}, /--extra-workload must be GROUP\/RESOURCE/],
    ['an unknown flag', ['--nope'], {}, /nope/],
    ['a bad log level', ['--log-level', 'loud'], {}, /--log-level must be one of/],
    ['no connections allowed', ['--max-connections', '0'], {}, /--max-connections must be at least 1/],
    ['a body budget below one 3 MiB review per half', [], { KUBE_LATCH_MAX_BUFFERED_MIB: '4' }, /--max-buffered-mib must be at least 6/],
    ['a request timeout of zero', ['--request-timeout', '0s'], {}, /--request-timeout must be more than 0/],
    ['a headers timeout longer than the request timeout', [], { KUBE_LATCH_HEADERS_TIMEOUT: '30s' }, /--headers-timeout \(30s\) must not exceed --request-timeout/],
  ];
  for (const [what, args, env, err] of usage) {
    test(`exits 2 with one line for ${what}`, () => {
      const r = run(args, env);
      assert.equal(r.code, 2, r.stderr + r.stdout);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, err);
    });
  }

  test('exits 1 with one line when the certificate directory has no usable pair', () => {
    const { dir, cleanup } = tempDir('webhook-nocerts');
    try {
      const r = run(['--cert-dir', dir, '--port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1']);
      assert.equal(r.code, 1, r.stderr + r.stdout);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /cannot read TLS files in .*ENOENT/);
    } finally {
      cleanup();
    }
  });

  test('--help lists every flag with its environment variable and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['port', 'metrics-port', 'bind-address', 'certs', 'cert-dir', 'ladder', 'tolerance', 'min-replicas', 'max-replicas', 'log-level', 'max-connections', 'max-buffered-mib', 'tls-handshake-timeout', 'headers-timeout', 'request-timeout', 'idle-timeout']) {
      assert.match(r.stdout, new RegExp(`--${flag} `));
      assert.match(r.stdout, new RegExp(`KUBE_LATCH_${flag.toUpperCase().replace(/-/g, '_')}\\]`));
    }
  });
});
