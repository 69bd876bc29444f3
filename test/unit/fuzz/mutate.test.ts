// Fuzzing POST /mutate over real HTTPS: mutated real reviews, damaged bytes, hostile content types,
// chunked bodies and oversized bodies. Whatever arrives, the server answers, never with a 5xx, and every
// answer is either a valid AdmissionReview (uid echoed, allowed, a base64 JSONPatch that applies to the
// object as sent) or a one-line 400/413/415.
//
// FUZZ_RUNS sets the number of generated requests (default 1,500, a few seconds); `npm run soak` runs
// 100,000. A failure prints fast-check's seed and path: FUZZ_SEED=… FUZZ_PATH=… replays it.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { pino } from 'pino';
import { MAX_BODY_BYTES, startWebhook, type WebhookHandle } from '../../../src/admission/server.ts';
import { parseReview } from '../../../src/admission/review.ts';
import { staticTlsSource } from '../../../src/certs/source.ts';
import { sharedPki } from '../../helpers/tls.ts';
import { contentType, damagedBody, fixtures, framing, isJsonType, mutatedReview, split, type Body } from './inputs.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1_500);
const replay = process.env['FUZZ_SEED'] ? { seed: Number(process.env['FUZZ_SEED']), path: process.env['FUZZ_PATH'] } : {};
const pki = sharedPki();

let wh: WebhookHandle;
let agent: Agent;
let logged = 0;

before(async () => {
  // Debug level: the log calls run for every request (they must survive any input too), into a sink.
  const sink = new Writable({
    write(_chunk, _enc, cb) {
      logged++;
      cb();
    },
  });
  wh = await startWebhook({ port: 0, metricsPort: 0, bindAddress: '127.0.0.1', tls: staticTlsSource(pki.leaf), log: pino({ level: 'debug' }, sink), defaultMetrics: false });
  agent = new Agent({ keepAlive: true, maxSockets: 2, ca: pki.ca.cert });
});
after(async () => {
  agent.destroy();
  await wh.close();
});

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

function send(bytes: Buffer, type: string | undefined, f: { chunked: boolean; cuts: number[] }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (type !== undefined) headers['content-type'] = type;
    if (!f.chunked) headers['content-length'] = bytes.length;
    const req = request({ host: '127.0.0.1', port: wh.port, method: 'POST', path: '/mutate?timeout=5s', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer within 20 s')));
    // The server may answer (413, 415) and close before the whole body is written: that is its right.
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    if (f.chunked) {
      for (const c of split(bytes, f.cuts)) req.write(c);
      req.end();
    } else req.end(bytes);
  });
}

/** What the server must answer for these bytes and this content type, as far as it can be told from outside. */
function expected(bytes: Buffer, type: string | undefined): { status: number; json?: unknown } | { status: 'review'; json: unknown } {
  if (!isJsonType(type)) return { status: 415 };
  if (bytes.length > MAX_BODY_BYTES) return { status: 413 };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { status: 400 };
  }
  try {
    parseReview(json);
  } catch {
    return { status: 400 };
  }
  return { status: 'review', json };
}

function assertOneLineError(a: Answer): void {
  assert.equal(a.contentType, 'application/json');
  assert.equal(a.body.endsWith('\n') && !a.body.trimEnd().includes('\n'), true, `one line: ${a.body.slice(0, 200)}`);
  assert.equal(typeof (JSON.parse(a.body) as { error?: unknown }).error, 'string');
}

function assertReviewAnswer(a: Answer, sent: { request: { uid: string; object?: unknown } }): void {
  assert.equal(a.status, 200, a.body.slice(0, 300));
  assert.equal(a.contentType, 'application/json');
  const out = JSON.parse(a.body) as { apiVersion: string; kind: string; response: Record<string, unknown> };
  assert.equal(out.apiVersion, 'admission.k8s.io/v1');
  assert.equal(out.kind, 'AdmissionReview');
  assert.equal(out.response['uid'], sent.request.uid);
  assert.equal(out.response['allowed'], true);
  const warnings = out.response['warnings'];
  if (warnings !== undefined) {
    assert.ok(Array.isArray(warnings) && warnings.every((w) => typeof w === 'string' && w.length < 120), JSON.stringify(warnings));
  }
  if (out.response['patch'] === undefined) {
    assert.equal(out.response['patchType'], undefined);
    return;
  }
  assert.equal(out.response['patchType'], 'JSONPatch');
  const ops = JSON.parse(Buffer.from(out.response['patch'] as string, 'base64').toString('utf8')) as jsonpatch.Operation[];
  assert.ok(Array.isArray(ops) && ops.length > 0);
  // validate=true: a patch that does not apply throws, as the apiserver would refuse it. The object is
  // a fresh parse of what was sent, patched in place (a deep clone would overflow on 20,000-deep input).
  jsonpatch.applyPatch(sent.request.object, ops, true, true);
}

async function check(b: Body, type: string | undefined, f: { chunked: boolean; cuts: number[] }): Promise<void> {
  const a = await send(b.bytes, type, f);
  assert.ok(a.status < 500, `5xx for ${b.fixture}: ${a.status} ${a.body.slice(0, 300)}`);
  const want = expected(b.bytes, type);
  if (want.status === 'review') return assertReviewAnswer(a, want.json as { request: { uid: string; object?: unknown } });
  assert.equal(a.status, want.status, `${b.fixture} ${JSON.stringify(b.mutations).slice(0, 300)}: ${a.body.slice(0, 300)}`);
  assertOneLineError(a);
}

describe('fuzzing POST /mutate over HTTPS', { timeout: Math.max(120_000, RUNS * 40) }, () => {
  test(`${Math.round(RUNS * 0.7)} mutated real reviews, as JSON, whole or chunked`, async () => {
    await fc.assert(
      fc.asyncProperty(mutatedReview, fc.constantFrom('application/json', 'application/json; charset=utf-8'), framing, (b, t, f) => check(b, t, f)),
      { numRuns: Math.round(RUNS * 0.7), ...replay },
    );
  });

  test(`${Math.round(RUNS * 0.3)} damaged bodies (truncated, invalid UTF-8, garbage) with assorted content types`, async () => {
    await fc.assert(fc.asyncProperty(damagedBody, contentType, framing, (b, t, f) => check(b, t, f)), { numRuns: Math.round(RUNS * 0.3), ...replay });
  });

  test('bodies just over the 3 MiB limit get 413, declared or streamed, and the next request is served', async () => {
    const runs = Math.max(4, Math.round(RUNS / 2_000));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 200_000 }), fc.boolean(), fc.nat({ max: fixtures.length - 1 }), async (over, chunked, i) => {
        const base = JSON.stringify({ ...(fixtures[i]!.review as object), filler: '' });
        const bytes = Buffer.from(base.slice(0, -2) + 'x'.repeat(MAX_BODY_BYTES + over - base.length) + '"}');
        assert.equal(bytes.length, MAX_BODY_BYTES + over);
        assert.ok(bytes.length > MAX_BODY_BYTES);
        const a = await send(bytes, 'application/json', { chunked, cuts: [65_536, 1_048_576, 2_097_152] });
        assert.equal(a.status, 413, a.body.slice(0, 200));
        assertOneLineError(a);
      }),
      { numRuns: runs, ...replay },
    );
    const ok = await send(Buffer.from(JSON.stringify(fixtures.find((f) => f.name === 'deployment-ssa.json')!.review)), 'application/json', { chunked: false, cuts: [] });
    assert.equal(ok.status, 200);
  });

  test('after the storm: nothing in flight, the server still decides, and its logging survived every input', async () => {
    const m = await wh.metrics.registry.getSingleMetricAsString('kube_latch_webhook_requests_in_flight');
    assert.match(m, /kube_latch_webhook_requests_in_flight 0\n?$/);
    const a = await send(Buffer.from(JSON.stringify(fixtures.find((f) => f.name === 'deployment-ssa.json')!.review)), 'application/json', { chunked: true, cuts: [100, 5_000] });
    assert.equal(a.status, 200);
    assert.ok(logged > 0);
  });
});
