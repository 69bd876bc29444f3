// Security properties of `kube-latch webhook` (the real CLI as a child process, debug logs captured):
// TLS 1.2 is the minimum, a wrong content type is refused, an oversized body gets 413 without being
// buffered, and no key material or token ever reaches its output.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { connect, createServer as createTlsServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePort, httpsRequest, kubeletWrite, makePki, postJson, tempDir, until, type TestPki } from '../../helpers/tls.ts';
import { cleanEnv, getHttp } from '../../helpers/child.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const FIXTURES = new URL('../../fixtures/admission/', import.meta.url);
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readFileSync(new URL(f, FIXTURES), 'utf8'));
/** A bearer token as an apiserver configured with webhook credentials would send; it must never be logged. */
const TOKEN = 'kl-sec-token-7d1f0c9e2b4a41f3a8e6c5b0d9f2e1a7';



/** Resident set size of a process in bytes. */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) * 1024;
}

/** A TLS handshake with the given client options: the negotiated protocol, or the error. */
function handshake(port: number, opts: ConnectionOptions): Promise<{ protocol: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const s: TLSSocket = connect({ host: '127.0.0.1', port, ...opts }, () => {
      const protocol = s.getProtocol();
      s.end();
      resolve({ protocol });
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `${e.code ?? ''} ${e.message}` }));
  });
}

/** Old protocol versions need OpenSSL's security level 0 on the client side to be offered at all. */
const OLD_CLIENT = { ciphers: 'DEFAULT:@SECLEVEL=0', minVersion: 'TLSv1', rejectUnauthorized: false } as const;

describe('kube-latch webhook security (child process, debug logs)', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let dir: string;
  let cleanup: () => void;
  let child: ChildProcess;
  let port: number;
  let metricsPort: number;
  let output = '';

  before(async () => {
    pki = makePki('kube-latch-security');
    ({ dir, cleanup } = tempDir('webhook-sec'));
    await kubeletWrite(dir, pki.leaf);
    port = await freePort();
    metricsPort = await freePort();
    child = spawn(
      process.execPath,
      [MAIN, 'webhook', '--port', String(port), '--metrics-port', String(metricsPort), '--cert-dir', dir, '--bind-address', '127.0.0.1', '--log-level', 'debug'],
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
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup();
  });

  describe('TLS 1.2 is the minimum', () => {
    test('the old-protocol client used below really can speak TLS 1.1 and 1.0 (control: a server that allows them)', async () => {
      const control = createTlsServer({ cert: pki.leaf.cert, key: pki.leaf.key, minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }, (s) => s.end());
      await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
      const cport = (control.address() as { port: number }).port;
      try {
        assert.deepEqual(await handshake(cport, { ...OLD_CLIENT, maxVersion: 'TLSv1.1' }), { protocol: 'TLSv1.1' });
        assert.deepEqual(await handshake(cport, { ...OLD_CLIENT, maxVersion: 'TLSv1' }), { protocol: 'TLSv1' });
      } finally {
        control.close();
      }
    });

    for (const v of ['TLSv1.1', 'TLSv1'] as const) {
      test(`a ${v} client is refused by the webhook`, async () => {
        const r = await handshake(port, { ...OLD_CLIENT, maxVersion: v });
        assert.ok('error' in r, `handshake succeeded with ${JSON.stringify(r)}`);
        assert.match(r.error, /protocol|version/i);
      });
    }

    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      test(`a ${v} client is served, verified against the CA`, async () => {
        assert.deepEqual(await handshake(port, { ca: pki.ca.cert, minVersion: v, maxVersion: v }), { protocol: v });
        const r = await postJson(port, pki.ca.cert, fixtures[0]!);
        assert.ok(r.status === 200 || r.status === 400, String(r.status));
      });
    }
  });

  describe('wrong content types are refused', () => {
    for (const ct of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/yaml', 'multipart/form-data; boundary=x', 'application/jsonp']) {
      test(`content-type ${ct ?? '(none)'} → 415 or 400, one line`, async () => {
        const body = fixtures[0]!;
        const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
        if (ct) headers['content-type'] = ct;
        const r = await httpsRequest({ port, ca: pki.ca.cert, body, headers });
        assert.ok(r.status === 415 || r.status === 400, `${r.status} ${r.body}`);
        assert.equal(r.body.trimEnd().includes('\n'), false);
        assert.equal(typeof JSON.parse(r.body).error, 'string');
      });
    }
  });

  describe('oversized bodies get 413 without being buffered', () => {
    /** Opens a TLS connection and sends a POST head; resolves the raw response text as it arrives. */
    function rawPost(head: string): { socket: TLSSocket; response: Promise<string>; sent: () => number; write: (b: Buffer) => boolean } {
      let sent = 0;
      const socket = connect({ host: '127.0.0.1', port, ca: pki.ca.cert });
      let text = '';
      const response = new Promise<string>((resolve, reject) => {
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          text += d;
          if (/\r\n\r\n[\s\S]*\n/.test(text)) resolve(text);
        });
        socket.on('error', (e) => (text ? resolve(text) : reject(e)));
        socket.on('close', () => resolve(text));
      });
      socket.write(head);
      return {
        socket,
        response,
        sent: () => sent,
        write: (b) => {
          sent += b.length;
          return socket.write(b);
        },
      };
    }

    test('Content-Length: 100 MiB with a slow trickle: 413 arrives at once, after a few KiB', async (t) => {
      const rssBefore = rss(child.pid!);
      const c = rawPost(`POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`);
      const started = Date.now();
      const trickle = setInterval(() => c.write(Buffer.alloc(1024, 0x20)), 100);
      try {
        const text = await c.response;
        const ms = Date.now() - started;
        assert.match(text, /^HTTP\/1\.1 413 /);
        assert.match(text, /connection: close/i);
        assert.ok(c.sent() < 64 * 1024, `answered only after ${c.sent()} bytes`);
        assert.ok(ms < 5_000, `413 took ${ms} ms`);
        t.diagnostic(`413 after ${ms} ms and ${c.sent()} bytes of a declared 100 MiB`);
      } finally {
        clearInterval(trickle);
        c.socket.destroy();
      }
      // nothing of the declared 100 MiB was reserved up front
      assert.ok(rss(child.pid!) - rssBefore < 32 * 1024 * 1024, `RSS grew ${((rss(child.pid!) - rssBefore) / 2 ** 20).toFixed(1)} MiB`);
    });

    test('a chunked body streamed past 3 MiB gets 413 while still sending; the rest is discarded, then the connection is cut', async (t) => {
      const c = rawPost('POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      let answeredAt: number | undefined;
      void c.response.then(() => (answeredAt ??= c.sent()));
      const rssBefore = rss(child.pid!);
      let closed = false;
      c.socket.on('close', () => (closed = true));
      // Send up to 24 MiB, pausing for the socket to drain: well past the 16 MiB the server discards.
      while (!closed && c.sent() < 24 * 1024 * 1024) {
        if (!c.write(framed)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              c.socket.off('drain', done).off('close', done);
              resolve();
            };
            c.socket.on('drain', done).on('close', done);
          });
        }
      }
      const text = await c.response;
      assert.match(text, /^HTTP\/1\.1 413 /);
      // The client sees the 413 only when its write loop yields, so on a loaded machine it shows up late;
      // what matters is that it arrives while the body is still being sent, before the 16 MiB cut.
      assert.ok(answeredAt !== undefined && answeredAt < 16 * 1024 * 1024, `413 seen after ${answeredAt} bytes`);
      await until(() => closed, 'the server to cut the connection', 10_000);
      assert.ok(c.sent() < 24 * 1024 * 1024, `the server took all ${c.sent()} bytes without cutting the connection`);
      const grew = rss(child.pid!) - rssBefore;
      t.diagnostic(`413 after ${answeredAt} bytes, connection cut after ${c.sent()} bytes, RSS +${(grew / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(grew < 12 * 1024 * 1024, `RSS grew ${(grew / 2 ** 20).toFixed(1)} MiB while ${(c.sent() / 2 ** 20).toFixed(1)} MiB were sent`);
    });
  });

  describe('no token or key material in any log line', () => {
    test('fixture traffic (with a bearer token in headers and body), errors and handshake failures leave no secret in stdout/stderr', async () => {
      for (const f of fixtures) {
        const review = JSON.parse(f);
        review.request.userInfo = { ...review.request.userInfo, extra: { token: [TOKEN] } };
        if (review.request.object?.metadata) review.request.object.metadata.annotations = { ...review.request.object.metadata.annotations, 'example.com/token': TOKEN };
        const body = JSON.stringify(review);
        const r = await httpsRequest({ port, ca: pki.ca.cert, body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${TOKEN}` } });
        assert.equal(r.status, 200, r.body);
      }
      await httpsRequest({ port, ca: pki.ca.cert, body: `{"token":"${TOKEN}"`, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } });
      await httpsRequest({ port, ca: pki.ca.cert, path: `/nope?token=${TOKEN}`, method: 'GET', headers: { authorization: `Bearer ${TOKEN}` } });
      await handshake(port, { ...OLD_CLIENT, maxVersion: 'TLSv1.1' });
      const metrics = await getHttp(metricsPort, '/metrics');
      assert.equal(metrics.status, 200);

      await until(() => output.includes('admission decided'), 'decision log lines', 5_000);
      const keyBody = pki.leaf.key.split('\n').filter((l) => l && !l.startsWith('-----'));
      const text = output + metrics.body;
      assert.ok(text.split('\n').length > fixtures.length, 'debug logs were captured');
      for (const needle of ['BEGIN', 'PRIVATE', TOKEN, ...keyBody.slice(0, 3), keyBody[keyBody.length - 2]!]) {
        assert.equal(text.includes(needle), false, `log output contains ${needle.slice(0, 24)}…`);
      }
    });
  });
});
