// A throwaway CA and a serving certificate for 127.0.0.1/localhost: node generates the RSA keys,
// node-forge writes the certificates.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface TestTls {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

function rsa(): { pub: forge.pki.PublicKey; priv: forge.pki.PrivateKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const priv = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { priv, pub: forge.pki.setRsaPublicKey(priv.n, priv.e), pem: privateKey };
}

function cert(subject: string, pub: forge.pki.PublicKey, issuer: string, signer: forge.pki.PrivateKey, ext: object[]): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = '01' + randomBytes(8).toString('hex');
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  c.setSubject([{ name: 'commonName', value: subject }]);
  c.setIssuer([{ name: 'commonName', value: issuer }]);
  c.setExtensions(ext);
  c.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return c;
}

export function makeTls(): TestTls {
  const ca = rsa();
  const caCert = cert('kube-latch test CA', ca.pub, 'kube-latch test CA', ca.priv, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  const leaf = rsa();
  const leafCert = cert('127.0.0.1', leaf.pub, 'kube-latch test CA', ca.priv, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
  ]);
  return { ca: forge.pki.certificateToPem(caCert), cert: forge.pki.certificateToPem(leafCert), key: leaf.pem };
}
