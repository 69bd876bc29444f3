// Apply latency through the dev cluster's apiserver with the webhook registered against without it: N
// server-side applies of an opted-in Deployment per block, blocks alternating (on, off, on, off, …), each
// apply a real write (a sequence annotation changes) over one keep-alive connection, like a GitOps
// controller. The webhook is the real CLI (startLocalWebhook), registered as DESIGN §5 says.
//
//   node bench/apply.ts [--applies 200] [--blocks 3] [--json FILE]
// KUBE_LATCH_E2E_DIR=DIR joins a running dev cluster instead of starting one.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startCluster, waitFor, type TestCluster } from '../test/e2e/helpers/cluster.ts';
import { DECLARED, registerWebhook, startLocalWebhook, webhookConfiguration } from '../test/e2e/helpers/webhook.ts';
import { applierFor, benchDeployment } from '../test/integration/faults/ssa.ts';
import { describeMachine } from './lib/proc.ts';
import { fmt, mean, median, percentile } from './lib/stats.ts';

export interface ApplyOptions {
  applies: number;
  blocks: number;
  log?: (line: string) => void;
}

export interface ApplyBlock {
  webhook: boolean;
  n: number;
  failures: number;
  /** applies whose stored object shows the webhook's declared annotation */
  seen: number;
  p50: number;
  p99: number;
  mean: number;
  load1: number;
  /** mean time the apiserver spent calling the webhook per apply (its admission webhook histogram) */
  apiserverWebhookMs?: number;
  /** mean time the webhook took per request, first byte to response (its own histogram) */
  webhookServerMs?: number;
}

export interface ApplyResult {
  machine: string;
  blocks: ApplyBlock[];
  summary: { onP50: number; offP50: number; ratioP50: number; onMean: number; offMean: number; ratioMean: number; onP99: number; offP99: number };
}

/** sum and count of a Prometheus histogram's series whose name and labels match, summed. */
function histogram(text: string, name: string, labelFilter = ''): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_sum`) && line.includes(labelFilter)) sum += Number(line.split(' ').pop());
    if (line.startsWith(`${name}_count`) && line.includes(labelFilter)) count += Number(line.split(' ').pop());
  }
  return { sum, count };
}

/** Waits until a server dry-run create of an opted-in Deployment comes back without the webhook's annotation. */
async function waitUnregistered(c: TestCluster, ns: string): Promise<void> {
  const probe = benchDeployment(ns, 'kube-latch-unprobe', 3, 0);
  await waitFor(
    'the apiserver to stop calling the webhook',
    async () => {
      const r = await c.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(probe) });
      return JSON.parse(r.stdout)?.metadata?.annotations?.[DECLARED] === undefined;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}

export async function runApply(o: ApplyOptions): Promise<ApplyResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const c = await startCluster({ nodes: 1 });
  const wh = await startLocalWebhook({ cluster: c });
  const applier = applierFor(c.kubeconfig);
  const cfgName = webhookConfiguration({ url: wh.url, caBundle: wh.caPem }).metadata as { name: string };
  try {
    const ns = await c.namespace('bench-apply');
    const name = 'web';
    let seq = 0;
    const apply = async () => {
      seq++;
      return applier.applyDeployment(benchDeployment(ns, name, 21 + (seq % 18), seq));
    };
    log(`machine: ${describeMachine()}`);
    log(`apply latency: ${o.applies} server-side applies per block, ${o.blocks} blocks each way, alternating; one keep-alive connection`);
    const created = await apply();
    if (created.status >= 300) throw new Error(`first apply failed: ${created.status} ${JSON.stringify(created.body).slice(0, 300)}`);
    for (let i = 0; i < 50; i++) await apply(); // warm the apiserver's caches and the connection

    const blocks: ApplyBlock[] = [];
    for (let b = 0; b < o.blocks * 2; b++) {
      const on = b % 2 === 0;
      if (on) await registerWebhook(c, { url: wh.url, caBundle: wh.caPem, probeNamespace: ns });
      else {
        await c.kubectl(['delete', 'mutatingwebhookconfiguration', cfgName.name, '--ignore-not-found']);
        await waitUnregistered(c, ns);
      }
      const apiMetrics = async () => histogram((await c.kubectl(['get', '--raw', '/metrics'])).stdout, 'apiserver_admission_webhook_admission_duration_seconds', 'replicas.kube-latch.io');
      const whMetrics = async () => histogram(await wh.metrics(), 'kube_latch_webhook_request_duration_seconds');
      const api0 = await apiMetrics();
      const wh0 = await whMetrics();
      const ms: number[] = [];
      let failures = 0;
      let seen = 0;
      for (let i = 0; i < o.applies; i++) {
        const d = 21 + ((seq + 1) % 18);
        const r = await apply();
        if (r.status >= 300) failures++;
        else ms.push(r.ms);
        if (r.body?.metadata?.annotations?.[DECLARED] === String(d)) seen++;
      }
      const block: ApplyBlock = { webhook: on, n: ms.length, failures, seen, p50: percentile(ms, 50), p99: percentile(ms, 99), mean: mean(ms), load1: loadavg()[0]! };
      if (on) {
        const [api1, wh1] = [await apiMetrics(), await whMetrics()];
        block.apiserverWebhookMs = ((api1.sum - api0.sum) * 1000) / o.applies;
        block.webhookServerMs = ((wh1.sum - wh0.sum) * 1000) / Math.max(1, wh1.count - wh0.count);
      }
      blocks.push(block);
      log(
        `  block ${b + 1} webhook ${on ? 'on ' : 'off'}: ${block.n} applies, ${block.seen} show the webhook, p50 ${fmt(block.p50)} ms, p99 ${fmt(block.p99)} ms, mean ${fmt(block.mean)} ms, failures ${failures}, load ${fmt(block.load1)}` +
          (on ? `; apiserver→webhook call ${fmt(block.apiserverWebhookMs!)} ms per apply, webhook's own time ${fmt(block.webhookServerMs!, 3)} ms per request` : ''),
      );
    }
    const on = blocks.filter((b) => b.webhook);
    const off = blocks.filter((b) => !b.webhook);
    const summary = {
      onP50: median(on.map((b) => b.p50)),
      offP50: median(off.map((b) => b.p50)),
      ratioP50: median(on.map((b) => b.p50)) / median(off.map((b) => b.p50)),
      onMean: median(on.map((b) => b.mean)),
      offMean: median(off.map((b) => b.mean)),
      ratioMean: median(on.map((b) => b.mean)) / median(off.map((b) => b.mean)),
      onP99: median(on.map((b) => b.p99)),
      offP99: median(off.map((b) => b.p99)),
    };
    log(
      `apply latency ratio with/without webhook: p50 ${fmt(summary.ratioP50)} (${fmt(summary.onP50)} vs ${fmt(summary.offP50)} ms), mean ${fmt(summary.ratioMean)} (${fmt(summary.onMean)} vs ${fmt(summary.offMean)} ms); p99 ${fmt(summary.onP99)} vs ${fmt(summary.offP99)} ms`,
    );
    return { machine: describeMachine(), blocks, summary };
  } finally {
    applier.close();
    await c.kubectl(['delete', 'mutatingwebhookconfiguration', cfgName.name, '--ignore-not-found']).catch(() => {});
    await wh.stop();
    await c.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { applies: { type: 'string', default: '200' }, blocks: { type: 'string', default: '3' }, json: { type: 'string' } } });
  const r = await runApply({ applies: Number(values.applies), blocks: Number(values.blocks) });
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
}
