// A tiny certificate authority: one CA and serving certificates signed by it, as PEM. No I/O.
// Keys come from Node's crypto (native, ~50 ms for RSA 2048) because node-forge's pure-JS keygen takes
// seconds; node-forge only builds and signs the X.509 structures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/** A certificate and its private key, both PEM, plus the facts a rotation schedule needs. */
export interface CertifiedKey {
  cert: string;
  /** PKCS#8 PEM */
  key: string;
  /** lowercase hex, as printed by openssl */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface CAOptions {
  commonName: string;
  validitySeconds: number;
  /** for tests and rotation schedules; defaults to the current time */
  now?: Date;
}

export interface LeafOptions {
  commonName: string;
  dnsNames?: readonly string[];
  /** IPv4 or IPv6 literals; a webhook called at https://127.0.0.1:PORT needs one */
  ipAddresses?: readonly string[];
  validitySeconds: number;
  now?: Date;
}

/** How far notBefore is backdated, so that a node whose clock runs slightly behind accepts a fresh cert. */
export const CLOCK_SKEW_SECONDS = 300;

const KEY_BITS = 2048;

/** The names a Service is reached by from inside the cluster. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** A self-signed CA certificate (basicConstraints CA, keyCertSign). */
export function createCA(opts: CAOptions): CertifiedKey {
  requireName(opts.commonName);
  const { notBefore, notAfter } = validity(opts.now ?? new Date(), opts.validitySeconds);
  const { keys, keyPem } = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  const serial = randomSerial();
  cert.serialNumber = serial;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const name = [{ shortName: 'CN', value: opts.commonName }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem, serial, notBefore, notAfter };
}

/**
 * A serving certificate signed by `ca`: serverAuth EKU, SANs for every DNS name and IP. Its notAfter never
 * exceeds the CA's, since a leaf that outlives its issuer cannot be verified anyway.
 */
export function createLeaf(ca: Pick<CertifiedKey, 'cert' | 'key'>, opts: LeafOptions): CertifiedKey {
  requireName(opts.commonName);
  const dnsNames = opts.dnsNames ?? [];
  const ipAddresses = opts.ipAddresses ?? [];
  if (dnsNames.length === 0 && ipAddresses.length === 0) {
    throw new Error('a serving certificate needs at least one DNS name or IP address');
  }
  for (const d of dnsNames) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(d)) {
      throw new Error(`not a DNS name: "${d}"`);
    }
  }
  for (const ip of ipAddresses) if (isIP(ip) === 0) throw new Error(`not an IP address: "${ip}"`);

  const v = validity(opts.now ?? new Date(), opts.validitySeconds);
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const { keys, keyPem } = newKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  const serial = randomSerial();
  cert.serialNumber = serial;
  const notAfter = v.notAfter > caCert.validity.notAfter ? caCert.validity.notAfter : v.notAfter;
  cert.validity.notBefore = v.notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ shortName: 'CN', value: opts.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ipAddresses.map((ip) => ({ type: 7, ip }))],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem, serial, notBefore: v.notBefore, notAfter };
}

function newKeyPair(): { keys: { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey }; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: KEY_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    keys: {
      publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
      privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
    },
    keyPem: privateKey,
  };
}

/**
 * 128 random bits as a positive DER INTEGER in minimal form: the top bit is clear (positive) and the first
 * byte is non-zero (strict parsers such as Go's reject a redundant leading zero byte).
 */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f || 0x01;
  return b.toString('hex');
}

function validity(now: Date, seconds: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`validity must be a positive number of seconds, got ${seconds}`);
  // X.509 times have second precision; round so that the returned dates equal what the certificate says.
  const t = Math.floor(now.getTime() / 1000) * 1000;
  return { notBefore: new Date(t - CLOCK_SKEW_SECONDS * 1000), notAfter: new Date(t + Math.floor(seconds) * 1000) };
}

function requireName(cn: string): void {
  if (typeof cn !== 'string' || cn.trim() === '') throw new Error('a certificate needs a non-empty common name');
}
