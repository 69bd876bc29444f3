// Where the webhook's serving certificate comes from. A TlsSource holds the current PEM pair and tells
// subscribers when it changes, so the HTTPS server can swap its secure context without a restart.
// `loadTlsSource` is the one seam the CLI calls: each `--certs` mode plugs in here.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { openFileSource } from './file-source.ts';
import type { SelfSignedConfig } from './self-signed-flags.ts';

export interface TlsMaterial {
  /** PEM; may hold the chain after the leaf */
  cert: string;
  /** PEM */
  key: string;
}

export interface TlsSource {
  current(): TlsMaterial;
  /** Calls `listener` after each successful swap; returns an unsubscribe function. */
  onChange(listener: (material: TlsMaterial) => void): () => void;
  /** Stops watching; `current()` keeps answering. */
  close(): Promise<void>;
  /** Adds the source's own metrics (if it has any) to the webhook's registry. */
  registerMetrics?(registry: Registry): void;
}

/** A certificate or key that cannot be served; the message is one line. */
export class TlsSourceError extends Error {
  override name = 'TlsSourceError';
}

/** A `--certs` mode that this build does not offer (a usage problem, exit 2). */
export class UnsupportedCertsModeError extends TlsSourceError {
  override name = 'UnsupportedCertsModeError';
}

export const CERTS_MODES = ['file', 'self-signed'] as const;
export type CertsMode = (typeof CERTS_MODES)[number];

export interface TlsSourceOptions {
  /** `--cert-dir`: holds tls.crt and tls.key */
  certDir: string;
  log: Logger;
  /** how often the file source re-reads the files in case a watch event was missed (default 10 s) */
  pollIntervalMs?: number;
  /** settings of `--certs self-signed` */
  selfSigned?: SelfSignedConfig;
}

export async function loadTlsSource(mode: CertsMode, opts: TlsSourceOptions): Promise<TlsSource> {
  switch (mode) {
    case 'file':
      return openFileSource(opts);
    case 'self-signed': {
      if (!opts.selfSigned) throw new UnsupportedCertsModeError('--certs self-signed needs its settings');
      // Loaded only in this mode: it brings the Kubernetes client and node-forge.
      const { openSelfSignedSource } = await import('./self-signed.ts');
      return openSelfSignedSource({ ...opts.selfSigned, log: opts.log });
    }
  }
}

/** A fixed pair, for in-process use (tests, the demo). */
export function staticTlsSource(material: TlsMaterial): TlsSource {
  validatePair(material);
  return {
    current: () => material,
    onChange: () => () => {},
    close: async () => {},
  };
}

/**
 * Checks that the pair can be served: the certificate and key parse, the key belongs to the certificate,
 * and OpenSSL accepts both. Returns the parsed leaf. Throws TlsSourceError.
 */
export function validatePair(m: TlsMaterial): X509Certificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(m.cert);
  } catch (e) {
    throw new TlsSourceError(`certificate does not parse: ${firstLine(e)}`);
  }
  let key;
  try {
    key = createPrivateKey(m.key);
  } catch (e) {
    throw new TlsSourceError(`private key does not parse: ${firstLine(e)}`);
  }
  if (!x509.checkPrivateKey(key)) {
    throw new TlsSourceError(`private key does not match the certificate (serial ${x509.serialNumber.toLowerCase()})`);
  }
  try {
    createSecureContext({ cert: m.cert, key: m.key });
  } catch (e) {
    throw new TlsSourceError(`TLS rejects the pair: ${firstLine(e)}`);
  }
  return x509;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
