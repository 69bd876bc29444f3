import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreV1Event } from '@kubernetes/client-node';
import { EventRecorder, type EventApi } from '../../../src/kube/events.ts';
import { ManualClock } from '../../../src/watcher/clock.ts';

class FakeEventApi implements EventApi {
  readonly stored = new Map<string, CoreV1Event>();
  readonly calls: Array<{ op: 'create' | 'patch'; name: string; count: number | undefined }> = [];
  fail: number | undefined;
  async create(namespace: string, body: CoreV1Event): Promise<CoreV1Event> {
    const name = body.metadata!.name!;
    this.calls.push({ op: 'create', name, count: body.count });
    if (this.fail) throw Object.assign(new Error('boom'), { code: this.fail });
    const saved = { ...body, metadata: { ...body.metadata, namespace, resourceVersion: '1' } };
    this.stored.set(name, saved);
    return saved;
  }
  async patch(_namespace: string, name: string, repeat: { count: number; lastTimestamp: string }): Promise<unknown> {
    this.calls.push({ op: 'patch', name, count: repeat.count });
    if (this.fail) throw Object.assign(new Error('boom'), { code: this.fail });
    const old = this.stored.get(name);
    if (!old) throw Object.assign(new Error('not found'), { code: 404 });
    this.stored.set(name, { ...old, count: repeat.count, lastTimestamp: new Date(repeat.lastTimestamp) });
    return {};
  }
}

const target = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'prod', name: 'web', uid: 'u1' };
const warn = { type: 'Warning' as const, reason: 'LatchTargetAmbiguous', message: 'kube-latch: 2 places in git declare prod/Deployment/web: a.yaml:3, b.yaml:4; nothing written' };

function setup() {
  const clock = new ManualClock();
  const api = new FakeEventApi();
  const rec = new EventRecorder(api, { component: 'kube-latch-watcher', instance: 'pod-1', clock, repeatIntervalMs: 300_000 });
  return { clock, api, rec };
}

test('events: the first occurrence creates a core/v1 Event on the workload', async () => {
  const { api, rec } = setup();
  rec.record(target, warn);
  await rec.flush();
  assert.equal(api.calls.length, 1);
  const ev = [...api.stored.values()][0]!;
  assert.deepEqual(ev.involvedObject, { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'prod', name: 'web', uid: 'u1' });
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.reason, 'LatchTargetAmbiguous');
  assert.equal(ev.message, warn.message);
  assert.equal(ev.count, 1);
  assert.equal(ev.source?.component, 'kube-latch-watcher');
  assert.equal(ev.reportingInstance, 'pod-1');
  assert.match(ev.metadata!.name!, /^web\.[0-9a-f]{16}$/);
});

test('events: repeats fold into one Event, its count sent at most once per interval', async () => {
  const { clock, api, rec } = setup();
  for (let i = 0; i < 100; i++) {
    rec.record(target, warn);
    await rec.flush();
    await clock.advance(15_000); // the engine re-reports on every tick
  }
  // 100 × 15 s = 25 min: one create, then one replace per 5 min
  assert.deepEqual(api.calls.map((c) => c.op), ['create', 'patch', 'patch', 'patch', 'patch']);
  assert.equal(api.stored.size, 1);
  assert.deepEqual(api.calls.map((c) => c.count), [1, 21, 41, 61, 81]);
  const ev = [...api.stored.values()][0]!;
  assert.equal(ev.count, 81);
  assert.equal(ev.lastTimestamp?.getTime(), clock.now() - 20 * 15_000, "sent with the 81st record");
});

test('events: a different message, reason or object is a different Event', async () => {
  const { api, rec } = setup();
  rec.record(target, warn);
  rec.record(target, { ...warn, message: warn.message + '!' });
  rec.record(target, { ...warn, reason: 'LatchTargetNotFound' });
  rec.record({ ...target, name: 'api', uid: 'u2' }, warn);
  await rec.flush();
  assert.equal(api.stored.size, 4);
});

test('events: an expired Event (404 on update) is created anew, the count carrying on', async () => {
  const { clock, api, rec } = setup();
  rec.record(target, warn);
  await rec.flush();
  api.stored.clear();
  await clock.advance(300_000);
  rec.record(target, warn);
  await rec.flush();
  assert.deepEqual(api.calls.map((c) => [c.op, c.count]), [['create', 1], ['patch', 2], ['create', 2]]);
});

test('events: API failures are swallowed and retried after the interval', async () => {
  const { clock, api, rec } = setup();
  api.fail = 403;
  assert.doesNotThrow(() => rec.record(target, warn));
  await rec.flush();
  api.fail = undefined;
  rec.record(target, warn);
  await rec.flush();
  assert.equal(api.calls.length, 1, 'no hammering inside the interval');
  await clock.advance(300_000);
  rec.record(target, warn);
  await rec.flush();
  assert.equal(api.stored.size, 1);
  assert.equal([...api.stored.values()][0]!.count, 3);
});

test('events: long messages are cut to 1024 characters', async () => {
  const { api, rec } = setup();
  rec.record(target, { ...warn, message: 'x'.repeat(5000) });
  await rec.flush();
  assert.equal([...api.stored.values()][0]!.message!.length, 1024);
});

test('events: the de-duplication memory is bounded', async () => {
  const clock = new ManualClock();
  const api = new FakeEventApi();
  const rec = new EventRecorder(api, { component: 'c', clock, maxEntries: 10 });
  for (let i = 0; i < 50; i++) rec.record({ ...target, name: `w${i}` }, warn);
  await rec.flush();
  rec.record({ ...target, name: 'w0' }, warn); // forgotten: recorded again
  rec.record({ ...target, name: 'w49' }, warn); // remembered: folded
  await rec.flush();
  assert.equal(api.calls.length, 51);
});

test('events: a URL credential in the message is redacted before the Event is written (issue 12 §4)', async () => {
  const { api, rec } = setup();
  const token = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
  rec.record(target, { type: 'Warning', reason: 'LatchPushFailed', message: `kube-latch: push to https://${token}@github.com/a/b.git failed; will retry` });
  await rec.flush();
  const ev = [...api.stored.values()][0]!;
  assert.equal(ev.message, 'kube-latch: push to https://[redacted]@github.com/a/b.git failed; will retry');
});
