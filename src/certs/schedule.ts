// The rotation schedule of self-signed mode, as pure functions over PEM and time: when a certificate is due,
// which CAs the caBundle must trust, and how a bundle is read and written. No I/O.
import { X509Certificate } from 'node:crypto';
import { CLOCK_SKEW_SECONDS } from './authority.ts';

/** Certificates are renewed when this fraction of their life has passed (as cert-manager does). */
export const RENEW_FRACTION = 2 / 3;

export interface CertTimes {
  notBefore: Date;
  notAfter: Date;
}

/**
 * When a certificate is due for renewal: 2/3 into its life. Life counts from issuance, which is notBefore
 * plus the backdating that authority.ts applies (when the certificate is long enough to have it).
 */
export function renewAt(c: CertTimes): Date {
  const nb = c.notBefore.getTime();
  const na = c.notAfter.getTime();
  const issued = na - nb > CLOCK_SKEW_SECONDS * 1000 ? nb + CLOCK_SKEW_SECONDS * 1000 : nb;
  return new Date(issued + Math.floor((na - issued) * RENEW_FRACTION));
}

export function isDue(c: CertTimes, now: Date): boolean {
  return now.getTime() >= renewAt(c).getTime();
}

export function isExpired(c: CertTimes, now: Date): boolean {
  return now.getTime() >= c.notAfter.getTime();
}

/** One certificate of a bundle, with what the schedule needs from it. */
export interface BundleCert extends CertTimes {
  pem: string;
  /** SHA-256 fingerprint, the identity used to compare certificates */
  fingerprint: string;
  subject: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Parses every certificate in a PEM bundle. Blocks that do not parse are skipped: they can verify nothing. */
export function parseBundle(pem: string): BundleCert[] {
  const out: BundleCert[] = [];
  for (const block of pem.match(PEM_BLOCK) ?? []) {
    try {
      out.push(describeCert(block));
    } catch {
      // not a certificate after all
    }
  }
  return out;
}

/** Throws when `pem` holds no parsable certificate. */
export function describeCert(pem: string): BundleCert {
  const x = new X509Certificate(pem);
  return {
    pem: normalizePem(x.toString()),
    fingerprint: x.fingerprint256,
    subject: x.subject.replace(/\n/g, ', '),
    notBefore: x.validFromDate,
    notAfter: x.validToDate,
  };
}

export function formatBundle(certs: readonly BundleCert[]): string {
  return certs.map((c) => c.pem).join('');
}

/**
 * The CAs the webhook configuration must trust, current first:
 * - every CA the Secret names (the current one, and the previous ones kept since a renewal);
 * - the CA that signed each leaf still served, even when the Secret no longer names it: `helm upgrade
 *   --force` or Argo CD `Replace=true` empties the Secret and the caBundle together, and the leaf in use
 *   must keep verifying until a leaf of the new CA replaces it;
 * - every certificate already in the bundle;
 * minus those that have expired (an expired CA verifies nothing). A CA leaves the bundle only by expiring,
 * never because some replica holds an older view of the Secret: one replica removing a CA that another has
 * just started serving under would fail the apiserver's calls.
 */
export function desiredBundle(trusted: readonly BundleCert[], servedSigners: readonly BundleCert[], current: readonly BundleCert[], now: Date): BundleCert[] {
  const seen = new Set<string>();
  const out: BundleCert[] = [];
  for (const c of [...trusted, ...servedSigners, ...current]) {
    if (seen.has(c.fingerprint) || isExpired(c, now)) continue;
    seen.add(c.fingerprint);
    out.push(c);
  }
  return out;
}

/** Whether two bundles trust the same certificates, in any order. */
export function sameCerts(a: readonly BundleCert[], b: readonly BundleCert[]): boolean {
  const fa = new Set(a.map((c) => c.fingerprint));
  const fb = new Set(b.map((c) => c.fingerprint));
  return fa.size === fb.size && [...fa].every((f) => fb.has(f));
}

export function contains(bundle: readonly BundleCert[], cert: Pick<BundleCert, 'fingerprint'>): boolean {
  return bundle.some((c) => c.fingerprint === cert.fingerprint);
}

function normalizePem(pem: string): string {
  return pem.trim().replace(/\r\n/g, '\n') + '\n';
}
