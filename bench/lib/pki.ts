// A throwaway CA and a 127.0.0.1 serving certificate in a temp cert dir (tls.crt, tls.key), shared by
// the webhook and the bare floor so that both pay for the same TLS.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCA, createLeaf } from '../../src/certs/authority.ts';

export interface BenchPki {
  dir: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  cleanup(): void;
}

export function benchPki(): BenchPki {
  const dir = mkdtempSync(join(tmpdir(), 'kube-latch-bench-'));
  const ca = createCA({ commonName: 'kube-latch-bench-ca', validitySeconds: 24 * 3600 });
  const leaf = createLeaf(ca, { commonName: 'kube-latch-bench', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], validitySeconds: 24 * 3600 });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, leaf.cert);
  writeFileSync(keyFile, leaf.key, { mode: 0o600 });
  return { dir, caPem: ca.cert, certFile, keyFile, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
