// Load generators for the admission benchmark.
//  - maxLoad: autocannon, closed loop (keep-alive, pipelining 1, C connections): the highest throughput.
//    Latencies are taken exactly from autocannon's per-response event (its own histogram keeps whole ms).
//  - with overallRate, autocannon's own rate limit: it sends each connection's per-second quota back to
//    back at the top of every second, a burst at full concurrency rather than a steady half load; the
//    steady open-loop pass is bench/lib/paced.ts. Both are reported.
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
