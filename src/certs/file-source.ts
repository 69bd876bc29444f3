// `--certs file`: serves tls.crt/tls.key from a directory and reloads them when they change on disk.
// The kubelet updates a mounted Secret by writing a new timestamped directory and swapping the `..data`
// symlink, so we watch the directory (any event triggers a re-read) and also poll, since inotify can miss
// a swap (e.g. when the mount itself is replaced). A new pair is swapped in only after it validates; a bad
// one is logged and the previous pair keeps serving.
import type { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { TlsSourceError, validatePair, type TlsMaterial, type TlsSource } from './source.ts';

export const CERT_FILE = 'tls.crt';
export const KEY_FILE = 'tls.key';
const DEFAULT_POLL_MS = 10_000;
/** Coalesces the burst of events of one update (cert and key written separately, symlink swaps). */
const DEBOUNCE_MS = 100;

export interface FileSourceOptions {
  certDir: string;
  log: Logger;
  pollIntervalMs?: number;
}

/** Loads the pair once (throws TlsSourceError when it cannot be served) and starts watching. */
export async function openFileSource(opts: FileSourceOptions): Promise<TlsSource> {
  const certPath = join(opts.certDir, CERT_FILE);
  const keyPath = join(opts.certDir, KEY_FILE);
  let material: TlsMaterial;
  try {
    material = await readPair(certPath, keyPath);
  } catch (e) {
    throw new TlsSourceError(`cannot read TLS files in ${opts.certDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let x509: X509Certificate;
  try {
    x509 = validatePair(material);
  } catch (e) {
    throw new TlsSourceError(`${certPath}: ${(e as Error).message}`);
  }
  const source = new FileTlsSource(certPath, keyPath, material, opts.log);
  source.start(opts.certDir, opts.pollIntervalMs ?? DEFAULT_POLL_MS);
  opts.log.info({ certDir: opts.certDir, ...describe(x509) }, 'serving certificate loaded');
  return source;
}

class FileTlsSource implements TlsSource {
  #certPath: string;
  #keyPath: string;
  #material: TlsMaterial;
  #log: Logger;
  #listeners = new Set<(m: TlsMaterial) => void>();
  #watcher: FSWatcher | undefined;
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  /** the running re-read, so that checks never overlap */
  #checking: Promise<void> | undefined;
  #again = false;
  /** the last failure reported, so that polling a bad pair does not log every 10 s */
  #lastFailure = '';
  #closed = false;

  constructor(certPath: string, keyPath: string, material: TlsMaterial, log: Logger) {
    this.#certPath = certPath;
    this.#keyPath = keyPath;
    this.#material = material;
    this.#log = log;
  }

  current(): TlsMaterial {
    return this.#material;
  }

  onChange(listener: (m: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(dir: string, pollMs: number): void {
    try {
      this.#watcher = watch(dir, { persistent: false }, () => this.#schedule());
      this.#watcher.on('error', (err) => {
        this.#log.warn({ err: err.message, certDir: dir }, 'cannot watch the certificate directory; polling only');
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, certDir: dir }, 'cannot watch the certificate directory; polling only');
    }
    this.#poll = setInterval(() => void this.check(), pollMs);
    this.#poll.unref();
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => void this.check(), DEBOUNCE_MS);
    this.#debounce.unref();
  }

  /** Re-reads the files and swaps if they changed and validate. Resolves when done; never rejects. */
  check(): Promise<void> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce();
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #checkOnce(): Promise<void> {
    if (this.#closed) return;
    let next: TlsMaterial;
    try {
      next = await readPair(this.#certPath, this.#keyPath);
    } catch (e) {
      this.#fail(`cannot read ${(e as NodeJS.ErrnoException).path ?? this.#certPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }
    if (next.cert === this.#material.cert && next.key === this.#material.key) {
      this.#lastFailure = '';
      return;
    }
    let x509: X509Certificate;
    try {
      x509 = validatePair(next);
    } catch (e) {
      this.#fail((e as Error).message);
      return;
    }
    this.#material = next;
    this.#lastFailure = '';
    this.#log.info({ cert: this.#certPath, ...describe(x509) }, 'serving certificate reloaded');
    for (const l of this.#listeners) {
      try {
        l(next);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'applying the reloaded certificate failed');
      }
    }
  }

  #fail(message: string): void {
    if (message === this.#lastFailure) return;
    this.#lastFailure = message;
    this.#log.error({ cert: this.#certPath, err: message }, 'new TLS files rejected; still serving the previous certificate');
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#debounce);
    clearInterval(this.#poll);
    this.#watcher?.close();
    this.#listeners.clear();
    await this.#checking;
  }
}

async function readPair(certPath: string, keyPath: string): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { cert, key };
}

function describe(x: X509Certificate): { serial: string; notAfter: string; subject: string } {
  return { serial: x.serialNumber.toLowerCase(), notAfter: x.validToDate.toISOString(), subject: x.subject.replace(/\n/g, ', ') };
}
