// The chart's dashboard and alerts against what the product really exports: the real `kube-latch webhook`
// and `kube-latch watcher` processes (as the CLI integration tests start them, no cluster needed) are
// scraped, and every metric a dashboard panel or an alert names must be in their /metrics. The same
// scrape checks the Prometheus naming conventions of every kube_latch_* family.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { httpGet } from '../../../src/demo/children.ts';
import { startWatcherChild, type WatcherChild } from '../../../src/demo/watcher.ts';
import { startWebhookChild, type WebhookChild } from '../../../src/demo/webhook.ts';
import { postJson } from '../../helpers/tls.ts';
import { update } from '../../helpers/reviews.ts';
import { find, render } from '../../unit/chart/helm.ts';
import { metricNames, parseExposition, type Family } from '../../unit/chart/promql.ts';
import { cleanEnv } from '../../helpers/child.ts';

const dashboard = JSON.parse(readFileSync(fileURLToPath(new URL('../../../charts/kube-latch/dashboards/kube-latch.json', import.meta.url)), 'utf8'));

/** Series the apiserver exports about admission webhooks; test/e2e/status.test.ts checks them, and their labels, on a real one. */
const APISERVER = new Set(['apiserver_admission_webhook_fail_open_count', 'apiserver_admission_webhook_rejection_count']);
/** Prometheus' own per-target series. */
const PROMETHEUS = new Set(['up']);

const dir = mkdtempSync(join(tmpdir(), 'kube-latch-observability-'));
let webhook: WebhookChild;
let watcher: WatcherChild;
let families: Map<string, Family>;


/** A family's sample names: a histogram exports NAME_bucket, NAME_sum and NAME_count. */
function sampleNames(fams: Map<string, Family>): Set<string> {
  const out = new Set<string>();
  for (const f of fams.values()) {
    out.add(f.name);
    if (f.type === 'histogram' || f.type === 'summary') for (const s of ['_bucket', '_sum', '_count']) out.add(f.name + s);
  }
  return out;
}

describe('dashboard and alerts name only exported metrics (live /metrics of the webhook and the watcher)', { timeout: 120_000 }, () => {
  before(async () => {
    webhook = await startWebhookChild(join(dir, 'certs'), {});
    // A remote that is not there yet: the watcher serves /metrics while it retries (its metrics exist from the start).
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n');
    watcher = await startWatcherChild(['--repo', `file://${join(dir, 'absent.git')}`, '--kubeconfig', kubeconfig], { env: cleanEnv({}, ['KUBERNETES_SERVICE_HOST', 'POD_NAMESPACE']) });
    // One kept-replicas answer, so that the warning and decision families have a sample.
    // git still declares the recorded 20 while live is 17: rule 3 (unchanged) keeps 17 and warns.
    const r = await postJson(Number(new URL(webhook.url).port), webhook.caPem, update(20, 17, 20));
    assert.equal(r.status, 200);
    const texts = await Promise.all([httpGet(webhook.metricsPort, '/metrics'), httpGet(watcher.metricsPort, '/metrics')]);
    for (const t of texts) assert.equal(t.status, 200);
    families = parseExposition(texts.map((t) => t.body).join('\n'));
  });
  after(async () => {
    await Promise.allSettled([webhook?.stop('SIGTERM'), watcher?.stop('SIGTERM')]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('every dashboard panel has a query, and every metric it names is exported', () => {
    const exported = sampleNames(families);
    const panels = (dashboard.panels as any[]).filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 10);
    for (const p of panels) {
      assert.ok(p.targets.length > 0, p.title);
      for (const t of p.targets) {
        const names = metricNames(t.expr);
        assert.ok(names.length > 0, `${p.title}: ${t.expr}`);
        for (const n of names) assert.ok(exported.has(n), `panel "${p.title}" queries ${n}, which neither /metrics exports`);
      }
    }
  });

  test('the dashboard covers what issue 18 asks for', () => {
    const all = (dashboard.panels as any[]).flatMap((p) => (p.targets ?? []).flatMap((t: any) => metricNames(t.expr)));
    for (const n of [
      'kube_latch_webhook_decisions_total',
      'kube_latch_webhook_warnings_total',
      'kube_latch_webhook_request_duration_seconds_bucket',
      'kube_latch_watcher_latches_total',
      'kube_latch_watcher_commits_total',
      'kube_latch_watcher_unlocated_workloads',
      'kube_latch_watcher_informer_freshness_seconds',
      'kube_latch_watcher_push_failures_total',
      'kube_latch_watcher_leader',
      'kube_latch_tls_certificate_expiry_timestamp_seconds',
    ]) assert.ok(all.includes(n), n);
  });

  test('every alert of the rendered PrometheusRule names exported metrics (or the apiserver\'s and Prometheus\' own)', async () => {
    const exported = sampleNames(families);
    const rule = find(await render({ prometheusRule: { enabled: true } }), 'PrometheusRule');
    const rules = (rule.spec.groups as any[]).flatMap((g) => g.rules);
    for (const r of rules) {
      for (const n of metricNames(r.expr)) {
        assert.ok(exported.has(n) || APISERVER.has(n) || PROMETHEUS.has(n), `alert ${r.alert} uses ${n}, which is not exported`);
      }
    }
  });

  test('the warning counter counted the kept-replicas answer', () => {
    const f = families.get('kube_latch_webhook_warnings_total');
    assert.ok(f);
    assert.ok(f.samples.some((s) => s.labels['rule'] === 'unchanged' && s.value === 1), JSON.stringify(f.samples));
  });

  test('kube_latch_* names follow Prometheus conventions: counters end _total, base units, snake case', () => {
    const ours = [...families.values()].filter((f) => f.name.startsWith('kube_latch_'));
    assert.ok(ours.length >= 15, String(ours.length));
    for (const f of ours) {
      assert.match(f.name, /^[a-z][a-z0-9_]*$/, f.name);
      if (f.type === 'counter') assert.match(f.name, /_total$/, `counter ${f.name}`);
      else assert.doesNotMatch(f.name, /_total$/, `${f.type} ${f.name} must not end in _total`);
      assert.doesNotMatch(f.name, /_(milli|micro|nano)?(ms|millis|milliseconds|minutes|hours|days|kb|mb|bytes_total_bytes|percent)(_|$)/, `${f.name}: not a base unit`);
      if (f.type === 'histogram') assert.match(f.name, /_(seconds|bytes)$/, `histogram ${f.name} names its unit`);
      if (/timestamp/.test(f.name)) assert.match(f.name, /_timestamp_seconds$/, f.name);
      for (const s of f.samples) for (const l of Object.keys(s.labels)) assert.match(l, /^[a-z][a-z0-9_]*$/, `${f.name} label ${l}`);
    }
  });
});
