// Load generators for the admission benchmark.
//  - maxLoad: autocannon, closed loop (keep-alive, pipelining 1, C connections): the highest throughput.
//    Latencies are taken exactly from autocannon's per-response event (its own histogram keeps whole ms).
//  - pacedLoad: open loop at a fixed rate with uniform arrivals over a keep-alive pool, latency measured
//    from the moment each request is issued, queueing for a free connection included. autocannon's own rate limit sends each
//    connection's per-second quota back to back at the top of every second, which measures a burst at
//    full concurrency rather than the latency at half load; both are reported.
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';
import { percentile } from './stats.ts';

export interface Target {
  url: string;
  ca: string;
  body: string;
}

export interface LoadResult {
  /** 2xx answers per second over the run */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  seconds: number;
}

const headers = (body: string) => ({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });

function summarize(lat: number[], ok: number, non2xx: number, errors: number, seconds: number): LoadResult {
  return {
    rps: ok / seconds,
    ok,
    non2xx,
    errors,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    p999: percentile(lat, 99.9),
    max: lat.reduce((a, b) => (b > a ? b : a), -Infinity),
    seconds,
  };
}

export async function maxLoad(t: Target, o: { connections: number; seconds: number; overallRate?: number }): Promise<LoadResult> {
  const lat: number[] = [];
  let ok = 0;
  let non2xx = 0;
  const started = process.hrtime.bigint();
  let inst!: autocannon.Instance;
  const res = await new Promise<autocannon.Result>((resolve, reject) => {
    inst = autocannon(
      {
        url: t.url,
        method: 'POST',
        headers: { 'content-type': 'application/json' }, // autocannon adds content-length itself
        body: t.body,
        connections: o.connections,
        pipelining: 1,
        duration: o.seconds,
        ...(o.overallRate ? { overallRate: o.overallRate } : {}),
        tlsOptions: { ca: t.ca },
      } as autocannon.Options,
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    inst.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) {
        ok++;
        lat.push(ms);
      } else non2xx++;
    });
  });
  // autocannon's own clock of the run (from the first connection to the stop), not the setup around it
  const seconds = res.duration || Number(process.hrtime.bigint() - started) / 1e9;
  return summarize(lat, ok, non2xx, res.errors + res.timeouts, seconds);
}

export async function pacedLoad(t: Target, o: { rate: number; seconds: number; sockets?: number }): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.sockets ?? 16, ca: t.ca });
  const lat: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const u = new URL(t.url);
  const h = headers(t.body);
  const total = Math.round(o.rate * o.seconds);
  let sent = 0;
  let done = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const fire = () => {
      const begun = performance.now();
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: h, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const ms = performance.now() - begun;
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) {
            ok++;
            lat.push(ms);
          } else non2xx++;
          if (++done === total) resolve();
        });
      });
      req.on('error', () => {
        errors++;
        if (++done === total) resolve();
      });
      req.end(t.body);
    };
    // A 1 ms tick issues every request whose uniform slot has come. Each is timed from the moment it is
    // handed to the agent (a busy pool queues it there, and that wait counts), not from its slot: the
    // tick's own jitter is the generator's, not the server's.
    const tick = setInterval(() => {
      const now = performance.now();
      while (sent < total && start + (sent * 1000) / o.rate <= now) {
        fire();
        sent++;
      }
      if (sent >= total) clearInterval(tick);
    }, 1);
  });
  agent.destroy();
  return summarize(lat, ok, non2xx, errors, (performance.now() - start) / 1000);
}
