// Flood (issue 13 §1): `kube-latch webhook` (the real CLI, default limits, a child process) while hostile
// connections stall, and an ordinary review's latency meanwhile over one kept-alive connection, the way
// the apiserver calls. Reports the webhook's RSS (baseline, peak VmHWM, after) against the chart's 256Mi
// limit, the review's p50/p99/max against the 50 ms goal, and the shed counters.
//
// Scenarios, one after the other on the same process:
//   bodies   N connections each announce 3 MiB, send all but 64 KiB, then stall (the reproduction)
//   silent   N connections finish TLS and send nothing
//   churn    N slots that each announce 3 MiB, send 64 KiB and stall, and reconnect whenever the server
//            closes theirs (a persistent attacker; the cheap way, since a refused body need not be sent)
// The hostile clients run in a child process of their own, so that their TLS work does not delay the probe.
//
//   node bench/flood.ts [--connections 200] [--seconds 8] [--rate 20] [--json FILE]
//   (any other flag after -- goes to `kube-latch webhook`, e.g. -- --max-buffered-mib 64)
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sample } from '../test/helpers/hostile.ts';
import { benchPki } from './lib/pki.ts';
import { CLI, describeMachine, freePort, rssBytes, spawnNode, waitHealthy, type Child } from './lib/proc.ts';
import { fmt, percentile } from './lib/stats.ts';

const FIXTURE = readFileSync(new URL('../test/fixtures/admission/deployment-ssa.json', import.meta.url), 'utf8');
const MiB = 1024 * 1024;
const CHART_LIMIT_MIB = 256;
const HOSTILE = fileURLToPath(new URL('./lib/hostile-clients.ts', import.meta.url));

async function waitForLine(file: string, line: string, child: Child): Promise<void> {
  for (;;) {
    if (readFileSync(file, 'utf8').split('\n').includes(line)) return;
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited: ${readFileSync(file, 'utf8').slice(-500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ScenarioResult {
  name: string;
  connections: number;
  reviews: number;
  non200: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
  shed: Record<string, number>;
}

function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

/** Reset the peak RSS counter (writing 5 to clear_refs), so that each scenario's VmHWM is its own. */
function resetHwm(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

function getText(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** One review over the kept-alive agent: status and milliseconds. */
function review(port: number, ca: string, agent: Agent): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/mutate?timeout=5s', method: 'POST', ca, agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(FIXTURE) }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    req.end(FIXTURE);
  });
}

async function reviewsFor(seconds: number, rate: number, port: number, ca: string, agent: Agent): Promise<Array<{ status: number; ms: number }>> {
  const out: Array<{ status: number; ms: number }> = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const next = Date.now() + 1000 / rate;
    out.push(await review(port, ca, agent));
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  return out;
}

export async function runFlood(opts: { connections: number; seconds: number; rate: number; webhookArgs: string[] }): Promise<{ machine: string; baselineMiB: number; scenarios: ScenarioResult[] }> {
  const pki = benchPki();
  const port = await freePort();
  const metricsPort = await freePort();
  const child = spawnNode('webhook', [CLI, 'webhook', '--port', String(port), '--metrics-port', String(metricsPort), '--cert-dir', pki.dir, '--bind-address', '127.0.0.1', '--log-level', 'warn', ...opts.webhookArgs], join(tmpdir(), `kube-latch-flood-${process.pid}.log`));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const scenarios: ScenarioResult[] = [];
  try {
    await waitHealthy(child, `http://127.0.0.1:${metricsPort}/readyz`);
    await reviewsFor(2, 100, port, pki.caPem, agent); // warm-up: JIT, TLS session, first allocations
    const baselineMiB = rssBytes(child.pid) / MiB;
    const shedCounts = async () => {
      const m = await getText(metricsPort, '/metrics');
      return Object.fromEntries(['body-budget', 'max-connections', 'handshake-timeout', 'request-timeout'].map((r) => [r, sample(m, 'kube_latch_webhook_shed_total', `reason="${r}"`)]));
    };

    const scenario = async (name: string, open: () => Promise<() => void>) => {
      const before = await shedCounts();
      resetHwm(child.pid);
      const stop = await open();
      const answered = await reviewsFor(opts.seconds, opts.rate, port, pki.caPem, agent);
      stop();
      const rssPeakMiB = vmHwmMiB(child.pid);
      await new Promise((r) => setTimeout(r, 6000)); // the request timeout closes what is left
      const after = await shedCounts();
      const ms = answered.filter((a) => a.status === 200).map((a) => a.ms);
      const r: ScenarioResult = {
        name,
        connections: opts.connections,
        reviews: answered.length,
        non200: answered.filter((a) => a.status !== 200).length,
        p50Ms: percentile(ms, 50),
        p99Ms: percentile(ms, 99),
        maxMs: Math.max(...ms),
        rssPeakMiB,
        rssAfterMiB: rssBytes(child.pid) / MiB,
        shed: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])),
      };
      scenarios.push(r);
      console.log(
        `${name.padEnd(7)} ${r.connections} hostile: RSS peak ${fmt(r.rssPeakMiB, 0)} MiB (limit ${CHART_LIMIT_MIB}), after ${fmt(r.rssAfterMiB, 0)}; ` +
          `review p50 ${fmt(r.p50Ms)} ms, p99 ${fmt(r.p99Ms)} ms, max ${fmt(r.maxMs)} ms over ${r.reviews} (${r.non200} not 200); shed ${JSON.stringify(r.shed)}`,
      );
    };
    const hostile = (kind: string) => async () => {
      const h = spawnNode(`hostile-${kind}`, [HOSTILE, kind, String(port), String(opts.connections), pki.caPem], join(tmpdir(), `kube-latch-flood-hostile-${kind}-${process.pid}.log`));
      // the child prints "ready" once every connection is open (churn: once every slot has started)
      await waitForLine(h.logFile, 'ready', h);
      return () => void h.stop('SIGKILL');
    };

    console.log(`baseline RSS after warm-up: ${fmt(baselineMiB, 0)} MiB`);
    await scenario('bodies', hostile('bodies'));
    await scenario('silent', hostile('silent'));
    await scenario('churn', hostile('churn'));
    return { machine: describeMachine(), baselineMiB, scenarios };
  } finally {
    agent.destroy();
    await child.stop();
    pki.cleanup();
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    options: { connections: { type: 'string', default: '200' }, seconds: { type: 'string', default: '8' }, rate: { type: 'string', default: '20' }, json: { type: 'string' } },
    allowPositionals: true,
  });
  console.log(`kube-latch flood bench, ${new Date().toISOString()}\nmachine: ${describeMachine()}\n`);
  const result = await runFlood({ connections: Number(values.connections), seconds: Number(values.seconds), rate: Number(values.rate), webhookArgs: positionals });
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 2));
  process.exit(0);
}
