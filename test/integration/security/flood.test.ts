// Issue 13 §1: the real `kube-latch webhook` (child process) under a flood of hostile connections — bodies
// announced at 3 MiB and never finished, TLS sessions that send nothing, TCP connections that never start
// TLS, more connections than it allows. It sheds each the way docs/security.md says (a counted 503, closes
// after the timeouts, closes on accept beyond the cap) and still answers an ordinary review correctly.
// The limits are set small through flags so that the test is short; behaviour, not timing, is asserted.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fjp from 'fast-json-patch';
import { sample, silentTcp, silentTls, stalledBody, type HostileConnection } from '../../helpers/hostile.ts';
import { freePort, kubeletWrite, makePki, postJson, tempDir, until, type TestPki } from '../../helpers/tls.ts';
import { cleanEnv, getHttp } from '../../helpers/child.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const FIXTURE = readFileSync(new URL('../webhook/deployment-ssa-update.json', import.meta.url), 'utf8');
const MiB = 1024 * 1024;

const MAX_CONNECTIONS = 60;
const BUDGET_MIB = 8; // bodies over 1 MiB share 4 MiB: one 3 MiB body at a time
const STALLED_BODIES = 30;
const SILENT_TLS = 10;
const SILENT_TCP = 5;



describe('kube-latch webhook under a flood of hostile connections (child process)', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let cleanup: () => void;
  let child: ChildProcess;
  let port: number;
  let metricsPort: number;
  let output = '';
  const hostile: HostileConnection[] = [];
  const metrics = async () => (await getHttp(metricsPort, '/metrics')).body;

  /** The fixture review (git 20, HPA 17) answered as DESIGN §3 says: keep 17, remember 20. */
  async function assertNormalReviewAnswered(): Promise<void> {
    const r = await postJson(port, pki.ca.cert, FIXTURE);
    assert.equal(r.status, 200, r.body);
    const sent = JSON.parse(FIXTURE);
    const body = JSON.parse(r.body);
    assert.equal(body.response.uid, sent.request.uid);
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
    const patched = fjp.applyPatch(structuredClone(sent.request.object), ops, true, false).newDocument;
    assert.equal(patched.spec.replicas, 17);
    assert.equal(patched.metadata.annotations['kube-latch.io/declared'], '20');
  }

  before(async () => {
    pki = makePki('kube-latch-flood');
    let dir: string;
    ({ dir, cleanup } = tempDir('webhook-flood'));
    await kubeletWrite(dir, pki.leaf);
    port = await freePort();
    metricsPort = await freePort();
    child = spawn(
      process.execPath,
      [
        MAIN, 'webhook', '--port', String(port), '--metrics-port', String(metricsPort), '--cert-dir', dir, '--bind-address', '127.0.0.1',
        '--max-connections', String(MAX_CONNECTIONS), '--max-buffered-mib', String(BUDGET_MIB),
        '--tls-handshake-timeout', '2s', '--headers-timeout', '2s', '--request-timeout', '10s',
      ],
      { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
    await until(
      async () => {
        if (child.exitCode !== null) throw new Error(`webhook exited ${child.exitCode}: ${output}`);
        return (await getHttp(metricsPort, '/readyz').catch(() => ({ status: 0 }))).status === 200;
      },
      'the webhook to become ready',
      20_000,
    );
  });

  after(() => {
    for (const h of hostile) h.socket.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup();
  });

  test('bodies announced at 3 MiB and stalled: all but one get a counted 503, and a normal review is still answered', async () => {
    const stalled = await Promise.all(Array.from({ length: STALLED_BODIES }, () => stalledBody(port, pki.ca.cert, 3 * MiB, 256 * 1024)));
    hostile.push(...stalled);
    hostile.push(...(await Promise.all(Array.from({ length: SILENT_TLS }, () => silentTls(port, pki.ca.cert)))));
    hostile.push(...(await Promise.all(Array.from({ length: SILENT_TCP }, () => silentTcp(port)))));

    // The large half of the budget (4 MiB) holds one 3 MiB body; every other one is refused on its headers.
    await until(() => stalled.filter((c) => c.status() === 503).length >= STALLED_BODIES - 1, 'the 503s');
    for (const c of stalled.filter((x) => x.status() === 503)) {
      assert.match(c.received(), /\r\nretry-after: 1\r\n/i);
      assert.match(c.received(), /\r\nconnection: close\r\n/i);
    }
    const refused = stalled.filter((c) => c.status() === 503).length;
    assert.equal(refused, STALLED_BODIES - 1, 'exactly one body fits the large half');

    const m = await metrics();
    assert.equal(sample(m, 'kube_latch_webhook_shed_total', 'reason="body-budget"'), refused);
    assert.equal(sample(m, 'kube_latch_webhook_rejected_requests_total', 'code="503"'), refused);
    // the body still being read holds its announced 3 MiB (proof that the review below runs beside it)
    assert.equal(sample(m, 'kube_latch_webhook_buffered_body_bytes'), 3 * MiB);
    // a 503 closes its connection at once: only the body being read and the silent ones are left
    await until(() => stalled.filter((c) => c.isClosed()).length === refused, 'the refused connections to be closed');
    assert.equal(sample(await metrics(), 'kube_latch_webhook_open_connections'), 1 + SILENT_TLS + SILENT_TCP);

    await assertNormalReviewAnswered();
    assert.equal(sample(await metrics(), 'kube_latch_webhook_buffered_body_bytes'), 3 * MiB, 'the stalled body was still held');
    assert.match(output, /body budget full: answering 503/);
  });

  test('every hostile connection is closed by the server after its timeout, and each close is counted', async () => {
    await until(() => hostile.every((c) => c.isClosed()), 'the server to close every hostile connection', 60_000);
    const m = await metrics();
    // the one stalled body that was being read, and the TLS sessions that never sent a request: 408
    assert.equal(sample(m, 'kube_latch_webhook_shed_total', 'reason="request-timeout"'), 1 + SILENT_TLS);
    assert.equal(sample(m, 'kube_latch_webhook_rejected_requests_total', 'code="408"'), 1 + SILENT_TLS);
    for (const c of hostile.slice(STALLED_BODIES, STALLED_BODIES + SILENT_TLS)) assert.equal(c.status(), 408);
    assert.equal(sample(m, 'kube_latch_webhook_shed_total', 'reason="handshake-timeout"'), SILENT_TCP);
    assert.equal(sample(m, 'kube_latch_webhook_buffered_body_bytes'), 0);
    await until(async () => sample(await metrics(), 'kube_latch_webhook_open_connections') === 0, 'no connection left open');
    await assertNormalReviewAnswered();
  });

  test('beyond --max-connections a connection is closed on accept and counted; once they go, reviews are answered again', async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => silentTcp(port)));
    hostile.push(...held);
    await until(async () => sample(await metrics(), 'kube_latch_webhook_open_connections') === MAX_CONNECTIONS, 'the cap to fill');
    // While the cap is full the webhook cannot be reached at all: for the apiserver a failed call (fail open).
    await assert.rejects(postJson(port, pki.ca.cert, FIXTURE), (e: NodeJS.ErrnoException) => /ECONNRESET|socket hang up|EPIPE/i.test(`${e.code} ${e.message}`));
    const extra = await Promise.all(Array.from({ length: 5 }, () => silentTcp(port)));
    hostile.push(...extra);
    await until(() => extra.every((c) => c.isClosed()), 'the connections over the cap to be closed');
    assert.ok(held.filter((c) => c.isClosed()).length < MAX_CONNECTIONS, 'the ones under the cap were accepted');
    const dropped = sample(await metrics(), 'kube_latch_webhook_shed_total', 'reason="max-connections"');
    assert.equal(dropped, 1 + extra.length, 'the refused review and each extra connection');

    await until(() => held.every((c) => c.isClosed()), 'the handshake timeout to close the held connections', 30_000);
    await assertNormalReviewAnswered();
  });
});
