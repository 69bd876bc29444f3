// Test helpers for anything that speaks TLS: a test PKI for 127.0.0.1/localhost, cert directories written
// plainly or the way the kubelet updates a mounted Secret, and an HTTPS client that verifies against a CA.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile, readdir } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { createCA, createLeaf, type CertifiedKey } from '../../src/certs/authority.ts';

export interface TestPki {
  ca: CertifiedKey;
  leaf: CertifiedKey;
}

const LOOPBACK = { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };

/** A fresh CA and a loopback serving certificate. */
export function makePki(commonName = 'kube-latch-test'): TestPki {
  const ca = createCA({ commonName: `${commonName}-ca`, validitySeconds: 3600 });
  return { ca, leaf: loopbackLeaf(ca, commonName) };
}

/** Another serving certificate from the same CA, e.g. to rotate to. */
export function loopbackLeaf(ca: CertifiedKey, commonName = 'kube-latch-test'): CertifiedKey {
  return createLeaf(ca, { commonName, ...LOOPBACK, validitySeconds: 3600 });
}

let shared: TestPki | undefined;
/** One PKI per test process: RSA keygen is the slow part of these tests. */
export function sharedPki(): TestPki {
  shared ??= makePki();
  return shared;
}

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `kube-latch-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes tls.crt and tls.key in place (a plain rewrite, not atomic). */
export async function writeCertDir(dir: string, pair: Pick<CertifiedKey, 'cert' | 'key'>): Promise<void> {
  await writeFile(join(dir, 'tls.crt'), pair.cert);
  await writeFile(join(dir, 'tls.key'), pair.key);
}

let generation = 0;
/**
 * Updates `dir` the way the kubelet's atomic writer updates a Secret volume: the files go into a fresh
 * `..<timestamp>` directory, `..data` is swapped to it by renaming a symlink, and `tls.crt`/`tls.key` are
 * symlinks through `..data` (created on first use). The old timestamped directory is removed afterwards.
 */
export async function kubeletWrite(dir: string, pair: Pick<CertifiedKey, 'cert' | 'key'>): Promise<void> {
  const ts = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${++generation}`;
  await mkdir(join(dir, ts));
  await writeFile(join(dir, ts, 'tls.crt'), pair.cert);
  await writeFile(join(dir, ts, 'tls.key'), pair.key);
  const before = (await readdir(dir)).filter((n) => n.startsWith('..') && n !== '..data' && n !== ts);
  await symlink(ts, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const f of ['tls.crt', 'tls.key']) {
    await symlink(join('..data', f), join(dir, f)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  for (const old of before) await rm(join(dir, old), { recursive: true, force: true });
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpsRequestOptions {
  port: number;
  ca: string;
  method?: string;
  path?: string;
  headers?: Record<string, string | number>;
  /** a string or Buffer; an array of chunks is sent chunked (no content-length) */
  body?: string | Buffer | Buffer[];
  host?: string;
}

/** One HTTPS request that verifies the server against `ca` (hostname 127.0.0.1 needs the IP SAN). */
export function httpsRequest(o: HttpsRequestOptions): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: o.host ?? '127.0.0.1',
        port: o.port,
        method: o.method ?? 'POST',
        path: o.path ?? '/mutate',
        headers: o.headers ?? {},
        ca: o.ca,
        rejectUnauthorized: true,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (Array.isArray(o.body)) {
      for (const c of o.body) req.write(c);
      req.end();
    } else {
      req.end(o.body);
    }
  });
}

/** POSTs a JSON value to /mutate with the right headers. */
export function postJson(port: number, ca: string, value: unknown, path = '/mutate'): Promise<HttpsResult> {
  const body = typeof value === 'string' ? value : JSON.stringify(value);
  return httpsRequest({ port, ca, path, body, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
}

/** Completes a TLS handshake verified against `ca` and returns the serial (lowercase hex) the server presented. */
export function presentedSerial(port: number, ca: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ca, rejectUnauthorized: true }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(raw).serialNumber.toLowerCase());
    });
    socket.on('error', reject);
  });
}

/** A pino logger whose JSON lines are collected in `lines`, for asserting on logs. */
export function captureLogger(level = 'debug'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level }, sink), lines };
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
