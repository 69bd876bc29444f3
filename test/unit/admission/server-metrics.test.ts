import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createWebhookMetrics } from '../../../src/admission/metrics.ts';
import { staticTlsSource } from '../../../src/certs/source.ts';
import { sharedPki } from '../../helpers/tls.ts';

describe('webhook metrics', () => {
  test('kind labels stay bounded: malformed kinds and kinds beyond the cap become "other"', () => {
    const m = createWebhookMetrics({ defaultMetrics: false });
    assert.equal(m.kindLabel('Deployment'), 'Deployment');
    for (const bad of ['', 'has space', '{"x":1}', 'x'.repeat(64), '1Deployment']) assert.equal(m.kindLabel(bad), 'other', bad);
    for (let i = 0; i < 40; i++) m.kindLabel(`Kind${i}`);
    assert.equal(m.kindLabel('Kind0'), 'Kind0');
    assert.equal(m.kindLabel('Kind39'), 'other');
    assert.equal(m.kindLabel('Deployment'), 'Deployment');
  });

  test('each instance has its own registry, so two webhooks in one process do not clash', async () => {
    const a = createWebhookMetrics({ defaultMetrics: true });
    const b = createWebhookMetrics({ defaultMetrics: true });
    a.decisions.inc({ rule: 'in-band', kind: 'Deployment' });
    assert.match(await a.registry.metrics(), /kube_latch_webhook_decisions_total\{rule="in-band",kind="Deployment"\} 1/);
    assert.doesNotMatch(await b.registry.metrics(), /rule="in-band"/);
    assert.match(await b.registry.metrics(), /process_cpu_seconds_total/);
  });

  test('exports the serving certificate expiry as a Unix time', async () => {
    const { leaf } = sharedPki();
    const m = createWebhookMetrics({ defaultMetrics: false, tls: staticTlsSource(leaf) });
    const text = await m.registry.metrics();
    const v = Number(/kube_latch_tls_certificate_expiry_timestamp_seconds (\d+)/.exec(text)?.[1]);
    assert.equal(v, leaf.notAfter.getTime() / 1000);
  });
});
