// Soak: `kube-latch webhook` (the real CLI, a child process) under steady load for 10 minutes, its RSS and
// V8 heap sampled every 10 s. Reports first against last and the slope (least squares after the first
// minute's warm-up). The load cycles through every admission fixture plus malformed bodies (400s), at a
// fixed rate over keep-alive connections.
//
//   node bench/soak.ts [--minutes 10] [--rate 400] [--interval 10] [--json FILE]
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { benchPki } from './lib/pki.ts';
import { CLI, describeMachine, freePort, rssBytes, spawnNode, waitHealthy } from './lib/proc.ts';
import { fmt, int, slope } from './lib/stats.ts';

const FIXTURES = new URL('../test/fixtures/admission/', import.meta.url);

export interface SoakSample {
  t: number;
  rssMiB: number;
  heapUsedMiB: number;
  requests: number;
  load1: number;
}

export interface SoakResult {
  machine: string;
  minutes: number;
  rate: number;
  samples: SoakSample[];
  requests: number;
  non2xx: number;
  errors: number;
  summary: {
    firstRssMiB: number;
    lastRssMiB: number;
    maxRssMiB: number;
    rssSlopeMiBPerMin: number;
    /** over the second half of the run only: a leak keeps climbing, allocator growth levels off */
    rssSlopeSecondHalfMiBPerMin: number;
    firstHeapMiB: number;
    lastHeapMiB: number;
    heapSlopeMiBPerMin: number;
  };
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

const metric = (text: string, name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

export async function runSoak(o: { minutes: number; rate: number; intervalSeconds: number; log?: (l: string) => void }): Promise<SoakResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const bodies = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.stringify(JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8'))));
  const malformed = ['{"apiVersion":', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}}', '[]'];
  const pki = benchPki();
  const logs = mkdtempSync(join(tmpdir(), 'kube-latch-soak-'));
  const [port, metricsPort] = [await freePort(), await freePort()];
  const wh = spawnNode('webhook', [CLI, 'webhook', '--port', String(port), '--metrics-port', String(metricsPort), '--cert-dir', pki.dir, '--bind-address', '127.0.0.1'], join(logs, 'webhook.log'));
  try {
    await waitHealthy(wh, `http://127.0.0.1:${metricsPort}/readyz`);
    log(`machine: ${describeMachine()}`);
    log(`soak: ${o.minutes} min at ${o.rate} req/s over 8 keep-alive connections, ${bodies.length} fixtures + ${malformed.length} malformed bodies in turn; RSS every ${o.intervalSeconds} s`);
    let requests = 0;
    let non2xx = 0;
    let finish!: (r: autocannon.Result) => void;
    const done = new Promise<autocannon.Result>((resolve) => (finish = resolve));
    const inst = autocannon({
      url: `https://127.0.0.1:${port}/mutate`,
      method: 'POST',
      connections: 8,
      pipelining: 1,
      duration: o.minutes * 60,
      overallRate: o.rate,
      tlsOptions: { ca: pki.caPem },
      requests: [...bodies, ...malformed].map((body) => ({ method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body })),
    } as autocannon.Options, (err, result) => {
      if (err) log(`autocannon: ${err.message}`);
      finish(result);
    });
    inst.on('response', (_c, status) => {
      requests++;
      if (status >= 300 && status !== 400) non2xx++;
    });

    const samples: SoakSample[] = [];
    const started = Date.now();
    const sample = async () => {
      const text = await scrape(metricsPort).catch(() => '');
      const s: SoakSample = {
        t: (Date.now() - started) / 1000,
        rssMiB: rssBytes(wh.pid) / 2 ** 20,
        heapUsedMiB: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
        requests,
        load1: loadavg()[0]!,
      };
      samples.push(s);
      log(`  t=${String(Math.round(s.t)).padStart(4)} s  RSS ${fmt(s.rssMiB, 1)} MiB  heap ${fmt(s.heapUsedMiB, 1)} MiB  ${int(s.requests)} requests  load ${fmt(s.load1)}`);
    };
    await sample();
    const timer = setInterval(() => void sample(), o.intervalSeconds * 1000);
    const res = await done;
    clearInterval(timer);
    await sample();

    const steady = samples.filter((s) => s.t >= Math.min(60, (o.minutes * 60) / 4));
    const secondHalf = samples.filter((s) => s.t >= (o.minutes * 60) / 2);
    const first = samples[1] ?? samples[0]!;
    const last = samples[samples.length - 1]!;
    const summary = {
      firstRssMiB: first.rssMiB,
      lastRssMiB: last.rssMiB,
      maxRssMiB: Math.max(...samples.map((s) => s.rssMiB)),
      rssSlopeMiBPerMin: slope(steady.map((s) => s.t / 60), steady.map((s) => s.rssMiB)),
      rssSlopeSecondHalfMiBPerMin: slope(secondHalf.map((s) => s.t / 60), secondHalf.map((s) => s.rssMiB)),
      firstHeapMiB: first.heapUsedMiB,
      lastHeapMiB: last.heapUsedMiB,
      heapSlopeMiBPerMin: slope(steady.map((s) => s.t / 60), steady.map((s) => s.heapUsedMiB)),
    };
    log(
      `soak: ${int(requests)} requests (${int(requests / (o.minutes * 60))}/s), unexpected statuses ${non2xx}, errors ${res.errors + res.timeouts}; ` +
        `RSS first ${fmt(summary.firstRssMiB, 1)} → last ${fmt(summary.lastRssMiB, 1)} MiB (max ${fmt(summary.maxRssMiB, 1)}), slope ${fmt(summary.rssSlopeMiBPerMin, 3)} MiB/min after warm-up, ${fmt(summary.rssSlopeSecondHalfMiBPerMin, 3)} MiB/min over the second half; ` +
        `heap ${fmt(summary.firstHeapMiB, 1)} → ${fmt(summary.lastHeapMiB, 1)} MiB, slope ${fmt(summary.heapSlopeMiBPerMin, 3)} MiB/min`,
    );
    return { machine: describeMachine(), minutes: o.minutes, rate: o.rate, samples, requests, non2xx, errors: res.errors + res.timeouts, summary };
  } finally {
    await wh.stop();
    pki.cleanup();
    rmSync(logs, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '400' }, interval: { type: 'string', default: '10' }, json: { type: 'string' } },
  });
  const r = await runSoak({ minutes: Number(values.minutes), rate: Number(values.rate), intervalSeconds: Number(values.interval) });
  if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
}
