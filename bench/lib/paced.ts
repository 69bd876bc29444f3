// A lean open-loop load generator for latency at a fixed rate: K keep-alive TLS connections, the request
// bytes built once, a minimal response reader (status line, Content-Length, body), and requests issued on
// a uniform schedule. A request that finds every connection busy waits in a queue, and that wait counts in
// its latency (open loop: the schedule does not slow down for a slow server). Node's own https client
// costs the generator several times more CPU per request, which on a small machine shows up as latency.
import { connect, type TLSSocket } from 'node:tls';
import { percentile } from './stats.ts';
import type { LoadResult, Target } from './load.ts';

interface Conn {
  socket: TLSSocket;
  buf: Buffer;
  started: number;
  busy: boolean;
}

export async function pacedLoadLean(t: Target, o: { rate: number; seconds: number; connections?: number }): Promise<LoadResult> {
  const u = new URL(t.url);
  const body = Buffer.from(t.body);
  const head = Buffer.from(
    `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`,
  );
  const wire = Buffer.concat([head, body]);
  const lat: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const total = Math.round(o.rate * o.seconds);
  let done = 0;
  const queue: number[] = []; // times at which waiting requests were due
  const idle: Conn[] = [];
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));

  const send = (c: Conn, since: number) => {
    c.busy = true;
    c.started = since;
    c.socket.write(wire);
  };
  const release = (c: Conn) => {
    c.busy = false;
    const next = queue.shift();
    if (next !== undefined) send(c, next);
    else idle.push(c);
  };
  const complete = () => {
    if (++done === total) finish();
  };

  const conns: Conn[] = await Promise.all(
    Array.from(
      { length: o.connections ?? 16 },
      () =>
        new Promise<Conn>((resolve, reject) => {
          const socket = connect({ host: u.hostname, port: Number(u.port), ca: t.ca, servername: undefined }, () => resolve(c));
          const c: Conn = { socket, buf: Buffer.alloc(0), started: 0, busy: false };
          socket.setNoDelay(true);
          socket.once('error', reject);
          socket.on('data', (d: Buffer) => {
            c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
            for (;;) {
              const end = c.buf.indexOf('\r\n\r\n');
              if (end < 0) return;
              const headText = c.buf.subarray(0, end).toString('latin1');
              const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headText)?.[1] ?? 0);
              if (c.buf.length < end + 4 + len) return;
              const status = Number(headText.slice(9, 12));
              c.buf = c.buf.subarray(end + 4 + len);
              if (status >= 200 && status < 300) {
                ok++;
                lat.push(performance.now() - c.started);
              } else non2xx++;
              release(c);
              complete();
            }
          });
        }),
    ),
  );
  for (const c of conns) {
    c.socket.on('error', () => {
      if (c.busy) {
        errors++;
        complete();
      }
    });
    idle.push(c);
  }

  const start = performance.now();
  let issued = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    while (issued < total && start + (issued * 1000) / o.rate <= now) {
      issued++;
      const c = idle.pop();
      if (c) send(c, now);
      else queue.push(now);
    }
    if (issued >= total) clearInterval(tick);
  }, 1);
  await finished;
  const seconds = (performance.now() - start) / 1000;
  for (const c of conns) c.socket.destroy();
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
