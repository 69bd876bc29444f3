import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequestRaw } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_BODY_BYTES, startWebhook, type WebhookHandle } from '../../../src/admission/server.ts';
import { staticTlsSource, type TlsMaterial, type TlsSource } from '../../../src/certs/source.ts';
import { sample, stalledBody, type HostileConnection } from '../../helpers/hostile.ts';
import { captureLogger, httpsRequest, loopbackLeaf, postJson, presentedSerial, sharedPki, until } from '../../helpers/tls.ts';

const pki = sharedPki();
const CA = pki.ca.cert;

/** An opted-in Deployment UPDATE: git declares `declared`, the HPA runs `live`. */
function review(opts: { uid?: string; declared?: number; live?: number; kind?: string; labels?: Record<string, string> } = {}) {
  const meta = (replicas: number) => ({
    metadata: { name: 'web', namespace: 'prod', labels: opts.labels ?? { app: 'web', 'kube-latch.io/enabled': 'true' } },
    spec: { replicas, selector: { matchLabels: { app: 'web' } } },
  });
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: opts.uid ?? 'b2f5f8d4-0000-4000-8000-000000000001',
      kind: { group: 'apps', version: 'v1', kind: opts.kind ?? 'Deployment' },
      resource: { group: 'apps', version: 'v1', resource: 'deployments' },
      name: 'web',
      namespace: 'prod',
      operation: 'UPDATE',
      userInfo: { username: 'system:serviceaccount:flux-system:kustomize-controller' },
      object: { apiVersion: 'apps/v1', kind: 'Deployment', ...meta(opts.declared ?? 20) },
      oldObject: { apiVersion: 'apps/v1', kind: 'Deployment', ...meta(opts.live ?? 17) },
      dryRun: false,
    },
  };
}

let wh: WebhookHandle;
let logs: Array<Record<string, unknown>>;

before(async () => {
  const c = captureLogger('debug');
  logs = c.lines;
  wh = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: c.log, defaultMetrics: false });
});
after(async () => {
  await wh.close();
});

function getMetrics(path: string, port = wh.metricsPort, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertOneLineError(r: { status: number; body: string; headers: Record<string, unknown> }, status: number, pattern?: RegExp): void {
  assert.equal(r.status, status, r.body);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.body.trimEnd().includes('\n'), false, 'one line');
  const parsed = JSON.parse(r.body) as { error: unknown };
  assert.equal(typeof parsed.error, 'string');
  if (pattern) assert.match(parsed.error as string, pattern);
}

describe('POST /mutate', () => {
  test('answers an AdmissionReview with the decision, uid echoed', async () => {
    const r = await postJson(wh.port, CA, review({ uid: 'u-in-band', declared: 20, live: 17 }));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const body = JSON.parse(r.body);
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    assert.equal(body.response.uid, 'u-in-band');
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString('utf8'));
    assert.deepEqual(ops[0], { op: 'replace', path: '/spec/replicas', value: 17 });
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  });

  test('accepts the query string the apiserver adds and JSON content types with parameters', async () => {
    for (const [path, type] of [
      ['/mutate?timeout=5s', 'application/json'],
      ['/mutate', 'application/json; charset=utf-8'],
      ['/mutate', 'Application/JSON'],
    ] as const) {
      const body = JSON.stringify(review({ uid: `u-${type}` }));
      const r = await httpsRequest({ port: wh.port, ca: CA, path, body, headers: { 'content-type': type } });
      assert.equal(r.status, 200, `${path} ${type}: ${r.body}`);
      assert.equal(JSON.parse(r.body).response.uid, `u-${type}`);
    }
  });

  const unsupported: Array<[string, Record<string, string>]> = [
    ['no content type', {}],
    ['text/plain', { 'content-type': 'text/plain' }],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['application/jsonx', { 'content-type': 'application/jsonx' }],
    ['YAML', { 'content-type': 'application/yaml' }],
  ];
  for (const [what, headers] of unsupported) {
    test(`415 for ${what}`, async () => {
      const r = await httpsRequest({ port: wh.port, ca: CA, body: JSON.stringify(review()), headers });
      assertOneLineError(r, 415, /content-type/);
    });
  }

  const malformed: Array<[string, string, RegExp]> = [
    ['an empty body', '', /not valid JSON/],
    ['text', 'hello', /not valid JSON/],
    ['truncated JSON', JSON.stringify(review()).slice(0, 200), /not valid JSON/],
    ['JSON with a newline inside the error excerpt', '{"a":\n\n\n x}', /not valid JSON/],
    ['null', 'null', /AdmissionReview/],
    ['a number', '42', /AdmissionReview/],
    ['an array', '[]', /AdmissionReview/],
    ['an object that is not a review', '{"kind":"ConfigMap"}', /AdmissionReview/],
    ['a v1beta1 review', JSON.stringify({ ...review(), apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion/],
    ['a review without request', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request/],
    ['a numeric uid', JSON.stringify({ ...review(), request: { ...review().request, uid: 7 } }), /uid/],
    ['replicas as a string', JSON.stringify({ ...review(), request: { ...review().request, object: { spec: { replicas: '3' } } } }), /replicas/],
  ];
  for (const [what, body, pattern] of malformed) {
    test(`400 with a one-line error for ${what}`, async () => {
      assertOneLineError(await postJson(wh.port, CA, body), 400, pattern);
    });
  }

  test('a body of exactly the cap is accepted', async () => {
    const json = JSON.stringify(review({ uid: 'u-at-cap' }));
    const body = json + ' '.repeat(MAX_BODY_BYTES - Buffer.byteLength(json));
    assert.equal(Buffer.byteLength(body), MAX_BODY_BYTES);
    const r = await postJson(wh.port, CA, body);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).response.uid, 'u-at-cap');
  });

  test('413 for a declared length one byte over the cap', async () => {
    const json = JSON.stringify(review());
    const body = json + ' '.repeat(MAX_BODY_BYTES + 1 - Buffer.byteLength(json));
    assertOneLineError(await postJson(wh.port, CA, body), 413, /exceeds/);
  });

  test('413 for a chunked body (no content-length) that grows past the cap', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const chunks = Array.from({ length: 16 }, () => chunk); // 4 MiB
    const r = await httpsRequest({ port: wh.port, ca: CA, body: chunks, headers: { 'content-type': 'application/json' } });
    assertOneLineError(r, 413, /exceeds/);
  });

  test('413 comes before the body: a 100 MiB content-length is refused on its headers', { timeout: 10_000 }, async () => {
    // Only the headers and 1 KiB are sent; a server that buffered first would never answer.
    const r = await new Promise<number>((resolve, reject) => {
      const req = httpsRequestRaw(
        {
          host: '127.0.0.1',
          port: wh.port,
          method: 'POST',
          path: '/mutate',
          ca: CA,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', (e) => reject(e));
      req.write(Buffer.alloc(1024, 0x20));
    });
    assert.equal(r, 413);
  });

  test('a body that decides nothing still counts: pass-through answers allowed with no patch', async () => {
    const r = await postJson(wh.port, CA, review({ uid: 'u-not-opted', labels: { app: 'web' } }));
    const body = JSON.parse(r.body);
    assert.equal(r.status, 200);
    assert.deepEqual(body.response, { uid: 'u-not-opted', allowed: true });
  });
});

describe('routing', () => {
  const cases: Array<[string, string, number]> = [
    ['GET', '/mutate', 405],
    ['PUT', '/mutate', 405],
    ['DELETE', '/mutate', 405],
    ['GET', '/', 404],
    ['POST', '/', 404],
    ['POST', '/validate', 404],
    ['POST', '/mutate/extra', 404],
    // exact routing: no case or trailing-slash variant reaches a handler (and so a second body budget)
    ['POST', '/Mutate', 404],
    ['POST', '/MUTATE', 404],
    ['POST', '/mutate/', 404],
    ['POST', '/mutate/?timeout=5s', 404],
    ['GET', '/metrics', 404],
  ];
  for (const [method, path, status] of cases) {
    test(`${method} ${path} → ${status}`, async () => {
      const r = await httpsRequest({ port: wh.port, ca: CA, method, path, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      assertOneLineError(r, status);
      if (status === 405) assert.equal(r.headers['allow'], 'POST');
    });
  }
});

describe('robustness', () => {
  test('random bodies get 200 or 400, never anything else, and the server stays up', async () => {
    const bodies = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 4 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      // a valid review with one field replaced by an arbitrary JSON value
      fc
        .tuple(fc.constantFrom('uid', 'kind', 'resource', 'operation', 'object', 'oldObject', 'subResource', 'name', 'dryRun', 'namespace'), fc.jsonValue({ maxDepth: 3 }))
        .map(([k, v]) => {
          const r = review();
          (r.request as Record<string, unknown>)[k] = v;
          return JSON.stringify(r);
        }),
      // a valid review with the object's metadata or spec replaced
      fc.tuple(fc.constantFrom('metadata', 'spec'), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => {
        const r = review();
        (r.request.object as Record<string, unknown>)[k] = v;
        return JSON.stringify(r);
      }),
    );
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const r = await postJson(wh.port, CA, body);
        assert.ok(r.status === 200 || r.status === 400, `status ${r.status} for ${body.slice(0, 200)}: ${r.body}`);
        if (r.status === 400) assertOneLineError(r, 400);
      }),
      { numRuns: 300 },
    );
    assert.equal((await getMetrics('/healthz')).status, 200);
    assert.equal((await postJson(wh.port, CA, review({ uid: 'after-fuzz' }))).status, 200);
  });

  test('raw garbage on the TLS port and inside a TLS session does not take the server down', async () => {
    await new Promise<void>((resolve) => {
      const s = netConnect(wh.port, '127.0.0.1', () => s.end(Buffer.from('GET / HTTP/1.1\r\n\r\n\x00\xff garbage')));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    await new Promise<void>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: wh.port, ca: CA }, () => s.end('POST /mutate HTTP/1.1\r\nContent-Length: nope\r\n\r\n\x00\x01'));
      s.on('error', reject);
      s.on('close', () => resolve());
      s.resume();
    });
    const r = await postJson(wh.port, CA, review({ uid: 'after-garbage' }));
    assert.equal(r.status, 200);
  });

  test('a client that disappears mid-body leaves nothing in flight', async () => {
    await new Promise<void>((resolve) => {
      const req = httpsRequestRaw({
        host: '127.0.0.1',
        port: wh.port,
        method: 'POST',
        path: '/mutate',
        ca: CA,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': '5000' },
      });
      req.on('error', () => resolve());
      req.write('{"apiVersion":', () => setTimeout(() => req.destroy(), 50));
    });
    await until(async () => /kube_latch_webhook_requests_in_flight 0\b/.test((await getMetrics('/metrics')).body), 'in-flight back to 0');
    assert.equal((await postJson(wh.port, CA, review())).status, 200);
  });
});

describe('metrics port', () => {
  test('/healthz and /readyz answer 200 while serving; unknown paths 404; POST 405', async () => {
    assert.equal((await getMetrics('/healthz')).status, 200);
    assert.equal((await getMetrics('/readyz')).status, 200);
    assert.equal(wh.ready(), true);
    assertOneLineError(await getMetrics('/nope'), 404);
    assertOneLineError(await getMetrics('/metrics', wh.metricsPort, 'POST'), 405);
  });

  test('/metrics counts decisions by rule and kind, latency, in-flight and rejections', async () => {
    const before = await getMetrics('/metrics');
    const count = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const inBand = /kube_latch_webhook_decisions_total\{rule="in-band",kind="Deployment"\} (\d+)/;
    const notOpted = /kube_latch_webhook_decisions_total\{rule="pass-through:not-opted-in",kind="StatefulSet"\} (\d+)/;
    const ok = /kube_latch_webhook_request_duration_seconds_count\{code="200"\} (\d+)/;
    const bad = /kube_latch_webhook_rejected_requests_total\{code="400"\} (\d+)/;
    const patched = /kube_latch_webhook_patched_total\{kind="Deployment"\} (\d+)/;
    await postJson(wh.port, CA, review({ declared: 20, live: 17 }));
    await postJson(wh.port, CA, review({ declared: 20, live: 18 }));
    await postJson(wh.port, CA, review({ kind: 'StatefulSet', labels: {} }));
    await postJson(wh.port, CA, 'nope');
    const afterText = (await getMetrics('/metrics')).body;
    assert.equal(count(afterText, inBand) - count(before.body, inBand), 2);
    assert.equal(count(afterText, notOpted) - count(before.body, notOpted), 1);
    assert.equal(count(afterText, ok) - count(before.body, ok), 3);
    assert.equal(count(afterText, bad) - count(before.body, bad), 1);
    assert.equal(count(afterText, patched) - count(before.body, patched), 2);
    assert.match(afterText, /kube_latch_webhook_requests_in_flight 0\b/);
    assert.match(afterText, /kube_latch_tls_certificate_expiry_timestamp_seconds \d+/);
    assert.match(before.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  });
});

describe('logs', () => {
  test('a latching decision logs at info with uid, namespace, name and rule; a pass-through at debug', async () => {
    await postJson(wh.port, CA, review({ uid: 'u-log-info', declared: 20, live: 17 }));
    await postJson(wh.port, CA, review({ uid: 'u-log-debug', labels: {} }));
    const info = await until(() => logs.find((l) => l['uid'] === 'u-log-info'), 'info line');
    assert.equal(info['level'], 30);
    assert.equal(info['namespace'], 'prod');
    assert.equal(info['name'], 'web');
    assert.equal(info['kind'], 'Deployment');
    assert.equal(info['rule'], 'in-band');
    assert.equal(info['patched'], true);
    const debug = await until(() => logs.find((l) => l['uid'] === 'u-log-debug'), 'debug line');
    assert.equal(debug['level'], 20);
    assert.equal(debug['rule'], 'pass-through:not-opted-in');
  });
});

/** A source whose change the test triggers, to check the server swaps its secure context. */
function manualSource(first: TlsMaterial): TlsSource & { swap(m: TlsMaterial): void; closed: boolean } {
  let current = first;
  const listeners = new Set<(m: TlsMaterial) => void>();
  return {
    closed: false,
    current: () => current,
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    swap(m) {
      current = m;
      for (const l of listeners) l(m);
    },
    async close() {
      this.closed = true;
    },
  };
}

describe('lifecycle', () => {
  test('a certificate change from the source applies to the next handshake', async () => {
    const src = manualSource(pki.leaf);
    const h = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: src, log: captureLogger('silent').log, defaultMetrics: false });
    try {
      assert.equal(await presentedSerial(h.port, CA), pki.leaf.serial);
      const next = loopbackLeaf(pki.ca);
      src.swap(next);
      assert.equal(await presentedSerial(h.port, CA), next.serial);
      assert.equal((await postJson(h.port, CA, review())).status, 200);
    } finally {
      await h.close();
    }
    assert.equal(src.closed, true, 'close() closes the TLS source it owns');
  });

  test('close() drains: readiness drops, the in-flight request completes, then both ports close', { timeout: 15_000 }, async () => {
    const h = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('silent').log, defaultMetrics: false });
    const body = Buffer.from(JSON.stringify(review({ uid: 'u-drain' })));
    let finish!: () => void;
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequestRaw(
        {
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          path: '/mutate',
          ca: CA,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 100));
      finish = () => req.end(body.subarray(100));
    });
    await until(async () => /kube_latch_webhook_requests_in_flight 1\b/.test((await getMetrics('/metrics', h.metricsPort)).body), 'request in flight');

    const closed = h.close();
    assert.equal(h.ready(), false);
    assert.equal((await getMetrics('/readyz', h.metricsPort)).status, 503);
    await assert.rejects(postJson(h.port, CA, review()), /ECONNREFUSED/);
    finish();
    const r = await response;
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).response.uid, 'u-drain');
    await closed;
    await assert.rejects(getMetrics('/healthz', h.metricsPort), /ECONNREFUSED/);
  });

  test('close() does not wait for keep-alive connections to time out (the apiserver keeps them open)', { timeout: 15_000 }, async () => {
    const h = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('silent').log, defaultMetrics: false, shutdownGraceMs: 10_000 });
    const agent = new HttpsAgent({ keepAlive: true, ca: CA });
    const body = JSON.stringify(review({ uid: 'u-keepalive' }));
    const send = (slow: boolean) =>
      new Promise<number>((resolve, reject) => {
        const req = httpsRequestRaw(
          { host: '127.0.0.1', port: h.port, method: 'POST', path: '/mutate', agent, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        if (!slow) return req.end(body);
        req.write(body.slice(0, 10));
        setTimeout(() => req.end(body.slice(10)), 300);
      });
    try {
      assert.equal(await send(false), 200); // leaves one idle keep-alive connection
      const inFlight = send(true); // reuses it, still sending when close() starts
      await until(async () => /kube_latch_webhook_requests_in_flight 1\b/.test((await getMetrics('/metrics', h.metricsPort)).body), 'request in flight');
      const t0 = Date.now();
      const closed = h.close();
      assert.equal(await inFlight, 200);
      await closed;
      assert.ok(Date.now() - t0 < 5000, `close took ${Date.now() - t0} ms`);
    } finally {
      agent.destroy();
    }
  });

  test('close() closes connections that finished a handshake but never sent a request', { timeout: 15_000 }, async () => {
    // A 60 s grace would outlast the test's timeout: close() must not wait for such a connection.
    const h = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('silent').log, defaultMetrics: false, shutdownGraceMs: 60_000 });
    const socket = tlsConnect({ host: '127.0.0.1', port: h.port, ca: CA, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const serverClosedIt = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await h.close();
    await serverClosedIt;
  });

  test('close() cuts requests that outlast the grace period', { timeout: 15_000 }, async () => {
    const h = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('silent').log, defaultMetrics: false, shutdownGraceMs: 200 });
    const stuck = new Promise<string>((resolve) => {
      const req = httpsRequestRaw({
        host: '127.0.0.1',
        port: h.port,
        method: 'POST',
        path: '/mutate',
        ca: CA,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': '1000' },
      });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.write('{');
    });
    await until(async () => /kube_latch_webhook_requests_in_flight 1\b/.test((await getMetrics('/metrics', h.metricsPort)).body), 'request in flight');
    const t0 = Date.now();
    await h.close();
    assert.ok(Date.now() - t0 >= 150, 'waited for the grace period');
    assert.equal(await stuck, 'ECONNRESET');
  });

  test('a port already in use fails startWebhook with the listen error', async () => {
    await assert.rejects(
      startWebhook({ port: wh.port, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('silent').log, defaultMetrics: false }),
      /EADDRINUSE/,
    );
  });
});

describe('one body budget for every path', () => {
  // The review's reproduction: 10 stalled 1 MB bodies under a 4 MiB budget, on /mutate and on the
  // variants that express would route to it by default.
  const MB = 1_000_000;
  let small: WebhookHandle;
  const open: HostileConnection[] = [];
  before(async () => {
    small = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: captureLogger('error').log, defaultMetrics: false, limits: { maxBufferedBytes: 4 * 1024 * 1024 } });
  });
  after(async () => {
    for (const c of open) c.socket.destroy();
    await small.close();
  });

  test('stalled bodies on /mutate share the 4 MiB budget; /Mutate and /mutate/ are answered 404 and buffer nothing', async () => {
    const on = async (path: string) => {
      const conns = await Promise.all(Array.from({ length: 10 }, () => stalledBody(small.port, pki.ca.cert, MB, 256 * 1024, path)));
      open.push(...conns);
      return conns;
    };
    const exact = await on('/mutate?timeout=5s');
    await until(() => exact.filter((c) => c.status() === 503).length === 6, 'six 503s on /mutate');
    for (const path of ['/Mutate', '/mutate/', '/Mutate?timeout=5s']) {
      const variant = await on(path);
      await until(() => variant.every((c) => c.status() === 404), `every body on ${path} answered 404`);
    }
    const m = await small.metrics.registry.metrics();
    // one owner of the gauge: the four bodies still being read on /mutate, nothing else
    assert.equal(sample(m, 'kube_latch_webhook_buffered_body_bytes'), 4 * MB);
    assert.equal(sample(m, 'kube_latch_webhook_shed_total', 'reason="body-budget"'), 6);
  });
});
