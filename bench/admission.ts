// Admission throughput and latency: `kube-latch webhook` (the real CLI, a child process) against a bare
// node:https floor (bench/bare-server.ts, a child process) on the same ~13 KB server-side-apply review.
// Runs alternate A B A B … so that the machine's drift hits both alike; the ratios come from one run.
//
//   node bench/admission.ts [--runs 3] [--seconds 10] [--connections N] [--cpu-prof DIR] [--json FILE]
//                           [--max-only] [--webhook-arg=--log-level --webhook-arg=warn]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchPki } from './lib/pki.ts';
import { maxLoad, type LoadResult, type Target } from './lib/load.ts';
import { pacedLoadLean } from './lib/paced.ts';
import { CLI, cpuSeconds, describeMachine, freePort, rssBytes, spawnNode, waitHealthy, type Child } from './lib/proc.ts';
import { fmt, int, median } from './lib/stats.ts';

const FIXTURE = new URL('../test/fixtures/admission/deployment-ssa.json', import.meta.url);

export interface AdmissionOptions {
  runs: number;
  seconds: number;
  connections?: number;
  cpuProfDir?: string;
  /** extra flags for `kube-latch webhook` */
  webhookArgs?: string[];
  /** the script that serves `webhook …` (default src/cli/main.ts; e.g. dist/cli/main.js) */
  webhookScript?: string;
  /** skip the half-load passes (profiling, quick comparisons) */
  maxOnly?: boolean;
  log?: (line: string) => void;
}

interface Server {
  name: 'webhook' | 'bare';
  child: Child;
  target: Target;
}

interface RunRecord extends LoadResult {
  server: 'webhook' | 'bare';
  /** server CPU seconds per 1,000 answers during the run */
  cpuMsPerReq: number;
  load1: number;
}

export interface AdmissionResult {
  machine: string;
  bodyBytes: number;
  connections: number;
  sweep: Array<{ connections: number; webhook: number; bare: number }>;
  max: RunRecord[];
  half: { rate: number; paced: RunRecord[]; autocannon: RunRecord[] };
  summary: {
    webhookRps: number;
    bareRps: number;
    ratio: number;
    ratioPerPair: number[];
    cpuRatio: number;
    webhookP99Max: number;
    bareP99Max: number;
    halfRate: number;
    webhookP50Half: number;
    webhookP99Half: number;
    bareP99Half: number;
    webhookP99HalfAutocannon: number;
    bareP99HalfAutocannon: number;
    webhookRssMiB: number;
    bareRssMiB: number;
  };
}

export async function runAdmission(o: AdmissionOptions): Promise<AdmissionResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const body = JSON.stringify(JSON.parse(readFileSync(FIXTURE, 'utf8')));
  const pki = benchPki();
  const logs = mkdtempSync(join(tmpdir(), 'kube-latch-bench-logs-'));
  const servers: Server[] = [];
  try {
    const [whPort, whMetrics, barePort] = [await freePort(), await freePort(), await freePort()];
    const nodeArgs = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [];
    const wh = spawnNode(
      'webhook',
      [o.webhookScript ?? CLI, 'webhook', '--port', String(whPort), '--metrics-port', String(whMetrics), '--cert-dir', pki.dir, '--bind-address', '127.0.0.1', ...(o.webhookArgs ?? [])],
      join(logs, 'webhook.log'),
      { nodeArgs },
    );
    const bare = spawnNode('bare', ['bench/bare-server.ts', String(barePort), pki.certFile, pki.keyFile], join(logs, 'bare.log'), { nodeArgs });
    await waitHealthy(wh, `http://127.0.0.1:${whMetrics}/readyz`);
    await waitHealthy(bare, `https://127.0.0.1:${barePort}/`, pki.caPem);
    servers.push(
      { name: 'webhook', child: wh, target: { url: `https://127.0.0.1:${whPort}/mutate`, ca: pki.caPem, body } },
      { name: 'bare', child: bare, target: { url: `https://127.0.0.1:${barePort}/mutate`, ca: pki.caPem, body } },
    );
    log(`machine: ${describeMachine()}`);
    log(`review: ${body.length} bytes; webhook flags: ${(o.webhookArgs ?? []).join(' ') || '(defaults)'}; stdout of both servers goes to a file`);

    const measure = async (s: Server, run: () => Promise<LoadResult>): Promise<RunRecord> => {
      const cpu0 = cpuSeconds(s.child.pid);
      const r = await run();
      const cpu = cpuSeconds(s.child.pid) - cpu0;
      return { ...r, server: s.name, cpuMsPerReq: (cpu * 1000) / Math.max(1, r.ok), load1: loadavg()[0]! };
    };

    // Warm up both (JIT, TLS sessions), then pick the connection count that gives the floor its best.
    for (const s of servers) await maxLoad(s.target, { connections: 8, seconds: 3 });
    const sweep: AdmissionResult['sweep'] = [];
    let connections = o.connections;
    if (connections === undefined) {
      for (const c of [1, 4, 16, 64]) {
        const w = await maxLoad(servers[0]!.target, { connections: c, seconds: 3 });
        const b = await maxLoad(servers[1]!.target, { connections: c, seconds: 3 });
        sweep.push({ connections: c, webhook: w.rps, bare: b.rps });
        log(`  sweep c=${String(c).padStart(2)}: webhook ${int(w.rps)}/s  bare ${int(b.rps)}/s`);
      }
      connections = sweep.reduce((best, s) => (s.bare > best.bare ? s : best)).connections;
    }
    log(`max load: autocannon, keep-alive, pipelining 1, ${connections} connections, ${o.seconds} s a run, ${o.runs} runs each, alternating`);

    const max: RunRecord[] = [];
    for (let i = 0; i < o.runs; i++) {
      for (const s of servers) {
        const r = await measure(s, () => maxLoad(s.target, { connections: connections!, seconds: o.seconds }));
        max.push(r);
        log(line(`  max #${i + 1}`, r));
      }
    }
    const rpsOf = (name: string, rs: RunRecord[]) => rs.filter((r) => r.server === name);
    const webhookRps = median(rpsOf('webhook', max).map((r) => r.rps));
    const bareRps = median(rpsOf('bare', max).map((r) => r.rps));

    // Half of the webhook's measured maximum, the same rate for both.
    const rate = Math.max(1, Math.round(webhookRps / 2));
    log(`half load: ${rate} req/s (50 % of the webhook's median max); open loop, uniform arrivals over 16 keep-alive connections (bench/lib/paced.ts), then autocannon's own rate limit`);
    const paced: RunRecord[] = [];
    const ac: RunRecord[] = [];
    for (let i = 0; i < (o.maxOnly ? 0 : o.runs); i++) {
      for (const s of servers) {
        const r = await measure(s, () => pacedLoadLean(s.target, { rate, seconds: o.seconds, connections: 16 }));
        paced.push(r);
        log(line(`  paced #${i + 1}`, r));
      }
    }
    for (let i = 0; i < (o.maxOnly ? 0 : o.runs); i++) {
      for (const s of servers) {
        const r = await measure(s, () => maxLoad(s.target, { connections: connections!, seconds: o.seconds, overallRate: rate }));
        ac.push(r);
        log(line(`  autocannon-rate #${i + 1}`, r));
      }
    }

    const pairs = rpsOf('webhook', max).map((w, i) => w.rps / rpsOf('bare', max)[i]!.rps);
    const med = (rs: RunRecord[], name: string, f: (r: RunRecord) => number) => median(rpsOf(name, rs).map(f));
    const summary: AdmissionResult['summary'] = {
      webhookRps,
      bareRps,
      ratio: webhookRps / bareRps,
      ratioPerPair: pairs,
      cpuRatio: med(max, 'bare', (r) => r.cpuMsPerReq) / med(max, 'webhook', (r) => r.cpuMsPerReq),
      webhookP99Max: med(max, 'webhook', (r) => r.p99),
      bareP99Max: med(max, 'bare', (r) => r.p99),
      halfRate: rate,
      webhookP50Half: med(paced, 'webhook', (r) => r.p50),
      webhookP99Half: med(paced, 'webhook', (r) => r.p99),
      bareP99Half: med(paced, 'bare', (r) => r.p99),
      webhookP99HalfAutocannon: med(ac, 'webhook', (r) => r.p99),
      bareP99HalfAutocannon: med(ac, 'bare', (r) => r.p99),
      webhookRssMiB: rssBytes(servers[0]!.child.pid) / 2 ** 20,
      bareRssMiB: rssBytes(servers[1]!.child.pid) / 2 ** 20,
    };
    const s = summary;
    log(`throughput ratio webhook/bare: ${fmt(s.ratio)} (median ${int(s.webhookRps)} vs ${int(s.bareRps)} req/s; per pair ${s.ratioPerPair.map((x) => fmt(x)).join(' ')})`);
    log(`CPU per request ratio bare/webhook: ${fmt(s.cpuRatio)} (server CPU time per answer; robust to a busy machine)`);
    log(`p99 at half load (${rate}/s, paced): webhook ${fmt(s.webhookP99Half, 3)} ms, bare ${fmt(s.bareP99Half, 3)} ms; autocannon rate limit: webhook ${fmt(s.webhookP99HalfAutocannon, 3)} ms, bare ${fmt(s.bareP99HalfAutocannon, 3)} ms`);
    log(`RSS after the runs: webhook ${fmt(s.webhookRssMiB, 1)} MiB, bare ${fmt(s.bareRssMiB, 1)} MiB`);
    return { machine: describeMachine(), bodyBytes: body.length, connections, sweep, max, half: { rate, paced, autocannon: ac }, summary };
  } finally {
    // SIGTERM lets --cpu-prof write its profile.
    await Promise.all(servers.map((s) => s.child.stop('SIGTERM')));
    pki.cleanup();
    rmSync(logs, { recursive: true, force: true });
  }
}

function line(label: string, r: RunRecord): string {
  const errs = r.non2xx + r.errors > 0 ? `  non-2xx ${r.non2xx} errors ${r.errors}` : '';
  return `${label.padEnd(22)} ${r.server.padEnd(7)} ${int(r.rps).padStart(7)} req/s  p50 ${fmt(r.p50, 3)} ms  p99 ${fmt(r.p99, 3)} ms  p99.9 ${fmt(r.p999, 3)} ms  cpu ${fmt(r.cpuMsPerReq * 1000, 0)} µs/req  load ${fmt(r.load1)}${errs}`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string' },
      'cpu-prof': { type: 'string' },
      json: { type: 'string' },
      'max-only': { type: 'boolean', default: false },
      'webhook-script': { type: 'string' },
      'webhook-arg': { type: 'string', multiple: true },
    },
  });
  const r = await runAdmission({
    runs: Number(values.runs),
    seconds: Number(values.seconds),
    connections: values.connections ? Number(values.connections) : undefined,
    cpuProfDir: values['cpu-prof'],
    maxOnly: values['max-only'],
    webhookScript: values['webhook-script'],
    webhookArgs: values['webhook-arg'],
  });
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
}
