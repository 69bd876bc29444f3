// Hostile clients of the webhook port, for the flood test and bench/flood.ts: each opens a connection and
// then holds it the cheap way (a body announced and never finished, a TLS session with no request, a TCP
// connection that never starts TLS). None of them ever closes its connection: the server has to.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface HostileConnection {
  socket: Socket | TLSSocket;
  /** everything the server sent, as text */
  received(): string;
  /** the HTTP status the server answered with, if any */
  status(): number | undefined;
  /** resolves when the server (never this client) has closed the connection, or ended its side of it */
  closed: Promise<void>;
  isClosed(): boolean;
}

function track(socket: Socket | TLSSocket): HostileConnection {
  let text = '';
  let done = false;
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d.length > 4096 ? d.slice(0, 4096) : d));
  // Resets are how a server cuts a connection whose body it did not read; they are expected here.
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => {
    const end = () => {
      done = true;
      resolve();
    };
    socket.once('end', end).once('close', end);
  });
  return {
    socket,
    received: () => text,
    status: () => {
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      return m ? Number(m[1]) : undefined;
    },
    closed,
    isClosed: () => done,
  };
}

/** Resolves once the TLS handshake is done (or the connection failed: the server may drop it on accept). */
function tls(port: number, ca: string): Promise<TLSSocket> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca });
    s.once('secureConnect', () => resolve(s));
    s.once('error', () => resolve(s));
    s.once('close', () => resolve(s));
  });
}

/**
 * POST /mutate announcing `announce` bytes of JSON and sending only `send` of them (spaces, valid JSON
 * whitespace so far), then nothing more.
 */
export async function stalledBody(port: number, ca: string, announce: number, send: number, path = '/mutate?timeout=5s'): Promise<HostileConnection> {
  const socket = await tls(port, ca);
  const c = track(socket);
  if (!socket.destroyed) {
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${announce}\r\n\r\n`);
    socket.write(Buffer.alloc(send, 0x20));
  }
  return c;
}

/** A finished TLS handshake, then silence. */
export async function silentTls(port: number, ca: string): Promise<HostileConnection> {
  return track(await tls(port, ca));
}

/** A TCP connection that never sends a TLS ClientHello. */
export function silentTcp(port: number): Promise<HostileConnection> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    const c = track(s);
    s.once('connect', () => resolve(c));
    s.once('error', () => resolve(c));
  });
}

/** One Prometheus sample from a /metrics text, 0 when absent. */
export function sample(metrics: string, name: string, labels = ''): number {
  const escaped = (name + (labels ? `{${labels}}` : '')).replace(/[{}.*+?^$()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
}
