// The chart's Grafana dashboard ConfigMap and PrometheusRule: opt-in, labelled for the Grafana sidecar and
// the Prometheus Operator, and a dashboard whose structure Grafana loads (Grafana's own JSON schema does
// not resolve here: see docs/observability.md). Which metrics they name is checked against a live
// /metrics in test/integration/observability/metrics.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHART_DIR, find, helm, render } from './helm.ts';
import { metricNames } from './promql.ts';

const dashboardFile = fileURLToPath(new URL('../../../charts/kube-latch/dashboards/kube-latch.json', import.meta.url));
const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8'));
const PANEL_TYPES = new Set(['row', 'timeseries', 'stat', 'heatmap', 'gauge', 'table', 'bargauge', 'text']);
const GO_DURATION = /^([0-9]+(ms|s|m|h))+$/;

describe('dashboard JSON: the structure Grafana (schemaVersion 39) loads', () => {
  test('top level: uid, title, schemaVersion, time, templating with the datasource and namespace variables', () => {
    assert.equal(dashboard.uid, 'kube-latch');
    assert.match(dashboard.uid, /^[a-zA-Z0-9_-]{1,40}$/);
    assert.equal(typeof dashboard.title, 'string');
    assert.equal(dashboard.schemaVersion, 39);
    assert.deepEqual(Object.keys(dashboard.time), ['from', 'to']);
    const vars = dashboard.templating.list.map((v: any) => [v.name, v.type]);
    assert.deepEqual(vars, [['datasource', 'datasource'], ['namespace', 'query']]);
    assert.equal(dashboard.templating.list[0].query, 'prometheus');
    assert.equal(dashboard.id, undefined, 'no id: Grafana assigns one on import');
  });

  test('panels: unique ids, known types, on the 24-column grid without overlapping', () => {
    const panels = dashboard.panels as any[];
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'ids are unique');
    const cells = new Set<string>();
    for (const p of panels) {
      assert.ok(PANEL_TYPES.has(p.type), `${p.title}: type ${p.type}`);
      assert.ok(typeof p.title === 'string' && p.title !== '', `panel ${p.id} has a title`);
      const g = p.gridPos;
      for (const k of ['x', 'y', 'w', 'h']) assert.ok(Number.isInteger(g[k]) && g[k] >= 0, `${p.title}: gridPos.${k}`);
      assert.ok(g.w >= 1 && g.x + g.w <= 24, `${p.title}: within 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const c = `${x},${y}`;
          assert.ok(!cells.has(c), `${p.title} overlaps another panel at ${c}`);
          cells.add(c);
        }
      }
    }
  });

  test('queries: every non-row panel uses the $datasource variable and has targets with unique refIds and a PromQL expr', () => {
    for (const p of (dashboard.panels as any[]).filter((x) => x.type !== 'row')) {
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
      assert.ok(Array.isArray(p.targets) && p.targets.length > 0, p.title);
      assert.equal(new Set(p.targets.map((t: any) => t.refId)).size, p.targets.length, `${p.title}: refIds`);
      for (const t of p.targets) {
        assert.deepEqual(t.datasource, p.datasource, `${p.title} ${t.refId}`);
        assert.ok(metricNames(t.expr).length > 0, `${p.title}: ${t.expr}`);
        assert.match(t.expr, /namespace=~"\$namespace"/, `${p.title}: filtered by the namespace variable`);
        assert.equal(balanced(t.expr), true, `${p.title}: brackets balance in ${t.expr}`);
      }
    }
  });
});

describe('grafanaDashboard values', () => {
  test('off by default: no ConfigMap', async () => {
    assert.equal((await render()).filter((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard')).length, 0);
  });

  test('enabled: a ConfigMap with the sidecar label grafana_dashboard: "1" and the dashboard file as is', async () => {
    const cm = find(await render({ grafanaDashboard: { enabled: true } }), 'ConfigMap', 'kl-kube-latch-dashboard');
    assert.equal(cm.metadata.labels!['grafana_dashboard'], '1');
    assert.equal(cm.metadata.namespace, 'kube-latch-system');
    assert.deepEqual(JSON.parse(cm['data']['kube-latch.json']), dashboard);
  });

  test('label, annotations and namespace are configurable', async () => {
    const cm = find(
      await render({ grafanaDashboard: { enabled: true, label: 'grafana.example/dashboard', labelValue: 'yes', annotations: { grafana_folder: 'kube-latch' }, namespace: 'monitoring' } }),
      'ConfigMap',
      'kl-kube-latch-dashboard',
    );
    assert.equal(cm.metadata.labels!['grafana.example/dashboard'], 'yes');
    assert.equal(cm.metadata.labels!['grafana_dashboard'], undefined, 'the label replaces the default');
    assert.equal(cm.metadata.annotations!['grafana_folder'], 'kube-latch');
    assert.equal(cm.metadata.namespace, 'monitoring');
  });

  test('the schema refuses an empty or malformed label and a bad namespace', async () => {
    for (const bad of [{ label: '' }, { label: 'has space' }, { labelValue: 'a b' }, { namespace: 'Not_A_Namespace' }]) {
      const r = await helm(['template', 'kl', CHART_DIR], { grafanaDashboard: { enabled: true, ...bad } });
      assert.notEqual(r.code, 0, JSON.stringify(bad));
      assert.match(r.stderr, /grafanaDashboard/);
    }
  });
});

describe('prometheusRule values', () => {
  const ALERTS = ['KubeLatchWebhookFailingOpen', 'KubeLatchWebhookRejecting', 'KubeLatchWebhookNotAnswering', 'KubeLatchCertificateExpiringSoon', 'KubeLatchGitPushFailing', 'KubeLatchWorkloadAmbiguous', 'KubeLatchNoLeader'];

  test('off by default', async () => {
    assert.equal((await render()).filter((o) => o.kind === 'PrometheusRule').length, 0);
  });

  test('enabled: every alert of issue 18, with its for, severity and a summary', async () => {
    const rule = find(await render({ prometheusRule: { enabled: true, labels: { release: 'prom' }, additionalLabels: { team: 'platform' } } }), 'PrometheusRule');
    assert.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(rule.metadata.labels!['release'], 'prom');
    const rules = (rule.spec.groups as any[]).flatMap((g) => g.rules);
    assert.deepEqual(rules.map((r) => r.alert), ALERTS);
    const by = Object.fromEntries(rules.map((r) => [r.alert, r]));
    for (const r of rules) {
      assert.match(r.for, GO_DURATION, r.alert);
      assert.ok(['info', 'warning', 'critical'].includes(r.labels.severity), r.alert);
      assert.equal(r.labels.team, 'platform', r.alert);
      assert.ok(r.annotations.summary, r.alert);
      assert.equal(balanced(r.expr), true, `${r.alert}: ${r.expr}`);
    }
    // What each alert is about, as issue 18 words it.
    assert.deepEqual(metricNames(by.KubeLatchWebhookFailingOpen.expr), ['apiserver_admission_webhook_fail_open_count']);
    assert.deepEqual(metricNames(by.KubeLatchWebhookRejecting.expr), ['apiserver_admission_webhook_rejection_count']);
    assert.match(by.KubeLatchWebhookFailingOpen.expr, /name="replicas\.kube-latch\.io"/, 'the webhook name of the registration');
    assert.ok(metricNames(by.KubeLatchWebhookNotAnswering.expr).includes('kube_latch_webhook_request_duration_seconds_count'));
    assert.match(by.KubeLatchCertificateExpiringSoon.expr, /< 7 \* 86400$/);
    assert.equal(by.KubeLatchGitPushFailing.for, '15m');
    assert.equal(by.KubeLatchWorkloadAmbiguous.for, '1h');
    assert.match(by.KubeLatchWorkloadAmbiguous.expr, /reason="ambiguous"/);
    assert.equal(by.KubeLatchNoLeader.for, '5m');
    for (const a of ['KubeLatchCertificateExpiringSoon', 'KubeLatchGitPushFailing', 'KubeLatchWorkloadAmbiguous', 'KubeLatchNoLeader']) {
      assert.match(by[a].expr, /namespace="kube-latch-system"/, `${a} is scoped to the release namespace`);
    }
    // Prometheus templates survive Helm: $labels and $value reach the rule as written.
    assert.match(by.KubeLatchWebhookFailingOpen.annotations.description, /\{\{ \$labels\.name \}\}/);
  });

  test('webhook only (watcher.enabled=false): no watcher alerts', async () => {
    const rule = find(await render({ prometheusRule: { enabled: true }, watcher: { enabled: false } }), 'PrometheusRule');
    assert.deepEqual((rule.spec.groups as any[]).map((g) => g.name), ['kube-latch.webhook']);
  });

  test('helm lint --strict with everything observable enabled', async () => {
    const r = await helm(['lint', '--strict', CHART_DIR], { grafanaDashboard: { enabled: true }, prometheusRule: { enabled: true }, serviceMonitor: { enabled: true } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

/** (), [] and {} pair up, outside strings. */
function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const ch of s) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}
