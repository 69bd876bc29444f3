// What kube-apiserver really sends: a relay between the apiserver and the webhook keeps every
// AdmissionReview, and these tests check the shapes that decide()'s rules rely on (DESIGN §3) on real
// requests — the field managers of a Flux-like apply, the defaulted 1 of a dropped field under server-side
// and client-side apply, dryRun — and that decide() answers the captured review exactly as the running
// webhook did.
//
// KUBE_LATCH_WRITE_REAL_FIXTURES=1 also writes the captured reviews to test/fixtures/admission/real/
// (the committed ones came from that); without it, the committed fixtures are checked against fresh captures.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decide } from '../../src/admission/decide.ts';
import { parseReview } from '../../src/admission/review.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { DECLARED, ENABLED_LABEL, registerWebhook, startCapturingProxy, startLocalWebhook, type CapturingProxy, type Exchange, type LocalWebhook } from './helpers/webhook.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/admission/real');
const WRITE = process.env['KUBE_LATCH_WRITE_REAL_FIXTURES'] === '1';
const FLUX = { serverSide: true, fieldManager: 'kustomize-controller', force: true } as const;
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

let c: TestCluster;
let wh: LocalWebhook;
let proxy: CapturingProxy;
let ns = '';

before(async () => {
  c = await startCluster({ nodes: 1 });
  wh = await startLocalWebhook({ cluster: c });
  proxy = await startCapturingProxy(wh);
  await registerWebhook(c, { url: proxy.url, caBundle: proxy.caPem });
  ns = await c.namespace('shop');
});

after(async () => {
  await proxy?.close();
  await wh?.stop();
  await c?.stop();
});

function deployment(name: string, replicas?: number): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name, [ENABLED_LABEL]: 'true' } },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'example.invalid/app:1' }] } },
    },
  };
}

/** The reviews relayed while fn ran, about `name`. */
async function captured(name: string, fn: () => Promise<unknown>): Promise<Exchange[]> {
  const from = proxy.exchanges.length;
  await fn();
  return proxy.exchanges.slice(from).filter((e) => e.review?.request?.name === name);
}

/** The one review of an apply (the apiserver repeats it on a storage conflict; the repeats are equal in substance). */
function one(ex: Exchange[]): Exchange {
  assert.ok(ex.length >= 1, 'the apiserver called the webhook');
  return ex[ex.length - 1]!;
}

const decoded = (e: Exchange) => (e.response.response.patch ? JSON.parse(Buffer.from(e.response.response.patch, 'base64').toString('utf8')) : []);
const ownsReplicas = (entry: any) => entry?.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined;

/** decide() on the captured review gives exactly the answer the running webhook gave. */
function sameAnswer(e: Exchange): void {
  assert.equal(e.status, 200);
  assert.deepEqual(decide(parseReview(e.review)).review, e.response);
}

/** Saves a capture as a fixture (WRITE), or checks the committed one still decides the same way. */
function fixture(file: string, e: Exchange, rule: string): void {
  assert.equal(decide(parseReview(e.review)).rule, rule);
  const path = join(FIXTURES, file);
  if (WRITE) writeFileSync(path, JSON.stringify(e.review, null, 2) + '\n');
  const committed = parseReview(JSON.parse(readFileSync(path, 'utf8')));
  assert.equal(decide(committed).rule, rule, `${file} is still decided as ${rule}`);
}

test('Flux-like SSA: an UPDATE with fieldManager kustomize-controller; the applier owns replicas; rule unchanged keeps live', async () => {
  await c.apply(deployment('web', 20), FLUX);
  await c.kubectl(['scale', '-n', ns, 'deployment/web', '--replicas=17']);
  const e = one(await captured('web', () => c.apply(deployment('web', 20), FLUX)));
  const r = e.review.request;
  assert.equal(e.review.apiVersion, 'admission.k8s.io/v1');
  assert.equal(r.operation, 'UPDATE');
  assert.equal(r.subResource, undefined);
  assert.equal(r.dryRun, false);
  // A PATCH reaches admission as an UPDATE with UpdateOptions: force is not passed on.
  assert.deepEqual(r.options, { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kustomize-controller', fieldValidation: 'Strict' });
  assert.equal(r.object.spec.replicas, 20);
  assert.equal(r.oldObject.spec.replicas, 17);
  assert.equal(r.oldObject.metadata.annotations[DECLARED], '20');
  const mine = r.object.metadata.managedFields.find((m: any) => m.manager === 'kustomize-controller');
  assert.equal(mine.operation, 'Apply');
  assert.ok(ownsReplicas(mine), 'the applier owns spec.replicas in the object under review');
  assert.deepEqual(decoded(e), [{ op: 'replace', path: '/spec/replicas', value: 17 }]);
  assert.deepEqual(e.response.response.warnings, ['kube-latch: kept replicas 17 (declared 20, band 10-40)']);
  sameAnswer(e);
  fixture('deployment-ssa-unchanged.json', e, 'unchanged');
});

test('SSA dropping replicas: the object arrives with the defaulted 1 and no manager owning f:replicas (rule undeclared, case a)', async () => {
  const e = one(await captured('web', () => c.apply(deployment('web'), FLUX)));
  const r = e.review.request;
  assert.equal(r.object.spec.replicas, 1);
  assert.equal(r.oldObject.spec.replicas, 17);
  assert.ok(r.object.metadata.managedFields.length > 0);
  assert.ok(!r.object.metadata.managedFields.some(ownsReplicas), JSON.stringify(r.object.metadata.managedFields));
  assert.deepEqual(decoded(e), [{ op: 'replace', path: '/spec/replicas', value: 17 }]);
  sameAnswer(e);
  fixture('deployment-ssa-undeclared.json', e, 'undeclared');
});

test('client-side apply dropping replicas: the defaulted 1 is owned by kubectl-client-side-apply, only last-applied tells (rule undeclared, case b)', async () => {
  await c.apply(deployment('csa', 20));
  await c.kubectl(['scale', '-n', ns, 'deployment/csa', '--replicas=17']);
  const e = one(await captured('csa', () => c.apply(deployment('csa'))));
  const r = e.review.request;
  assert.equal(r.options.fieldManager, 'kubectl-client-side-apply');
  assert.equal(r.object.spec.replicas, 1);
  assert.equal(r.oldObject.spec.replicas, 17);
  assert.ok(r.object.metadata.managedFields.some((m: any) => m.manager === 'kubectl-client-side-apply' && ownsReplicas(m)), 'case (a) cannot see it');
  assert.equal(JSON.parse(r.object.metadata.annotations[LAST_APPLIED]).spec.replicas, undefined);
  assert.equal(JSON.parse(r.oldObject.metadata.annotations[LAST_APPLIED]).spec.replicas, 20);
  assert.deepEqual(decoded(e), [{ op: 'replace', path: '/spec/replicas', value: 17 }]);
  sameAnswer(e);
  fixture('deployment-csa-undeclared.json', e, 'undeclared');
});

test('client-side apply 20 → 25 in band, as a server dry-run: dryRun true, same answer as the real one', async () => {
  await c.apply(deployment('csa', 20));
  const dry = one(await captured('csa', () => c.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(deployment('csa', 25)) })));
  const real = one(await captured('csa', () => c.apply(deployment('csa', 25))));
  assert.equal(dry.review.request.dryRun, true);
  assert.deepEqual(dry.review.request.options.dryRun, ['All']);
  assert.equal(real.review.request.dryRun, false);
  assert.equal(dry.review.request.object.spec.replicas, 25);
  const answer = (e: Exchange) => ({ ...e.response.response, uid: undefined });
  assert.deepEqual(answer(dry), answer(real));
  assert.deepEqual(real.response.response.warnings, ['kube-latch: kept replicas 17 (declared 25, band 13-50)']);
  sameAnswer(real);
  fixture('deployment-csa-in-band-dry-run.json', dry, 'in-band');
});

test('kubectl scale and the controllers’ status writes never reach the webhook', async () => {
  const before = proxy.exchanges.length;
  await c.kubectl(['scale', '-n', ns, 'deployment/web', '--replicas=45']);
  await c.kubectl(['scale', '-n', ns, 'deployment/csa', '--replicas=3']);
  await c.kubectl(['rollout', 'status', '-n', ns, 'deployment/csa', '--timeout=60s']);
  assert.deepEqual(proxy.exchanges.slice(before).map((e) => `${e.review.request.operation} ${e.review.request.subResource ?? ''}`), []);
  assert.ok(proxy.exchanges.every((e) => e.review.request.subResource === undefined));
});
