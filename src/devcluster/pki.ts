// The dev cluster's credentials: one CA that signs the apiserver's serving certificate and the admin's
// client certificate, plus the ServiceAccount token signing key pair. Keys come from Node's native crypto;
// node-forge only builds and signs the X.509 structures.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface ClusterPki {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  /** CN=kube-latch-admin, O=system:masters: cluster-admin through the built-in group binding */
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** CN=front-proxy-client: the aggregator's client certificate towards extension apiservers (metrics-server) */
  frontProxyCert: string;
  frontProxyKey: string;
}

const TEN_YEARS = 10 * 365 * 24 * 3600 * 1000;

export function createClusterPki(): ClusterPki {
  const ca = keyPair();
  const caName = [{ shortName: 'CN', value: 'kube-latch-dev-cluster-ca' }];
  const caCert = certificate(ca.forgePub, caName, caName, ca.forgeKey, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);

  const serving = keyPair();
  const servingCert = certificate(serving.forgePub, [{ shortName: 'CN', value: 'kube-apiserver' }], caName, ca.forgeKey, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        { type: 7, ip: '127.0.0.1' },
        { type: 2, value: 'localhost' },
        { type: 2, value: 'kubernetes' },
        { type: 2, value: 'kubernetes.default' },
        { type: 2, value: 'kubernetes.default.svc' },
        { type: 2, value: 'kubernetes.default.svc.cluster.local' },
      ],
    },
  ]);

  const admin = keyPair();
  const adminName = [
    { shortName: 'CN', value: 'kube-latch-admin' },
    { shortName: 'O', value: 'system:masters' },
  ];
  const adminCert = certificate(admin.forgePub, adminName, caName, ca.forgeKey, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);

  const proxy = keyPair();
  const frontProxyCert = certificate(proxy.forgePub, [{ shortName: 'CN', value: 'front-proxy-client' }], caName, ca.forgeKey, [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);

  const sa = keyPair();
  return {
    caCert,
    caKey: ca.keyPem,
    servingCert,
    servingKey: serving.keyPem,
    adminCert,
    adminKey: admin.keyPem,
    serviceAccountKey: sa.keyPem,
    serviceAccountPub: sa.pubPem,
    frontProxyCert,
    frontProxyKey: proxy.keyPem,
  };
}

function keyPair() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return {
    pubPem: publicKey,
    keyPem: privateKey,
    forgePub: forge.pki.publicKeyFromPem(publicKey),
    forgeKey: forge.pki.privateKeyFromPem(privateKey),
  };
}

function certificate(
  publicKey: forge.pki.PublicKey,
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  signer: forge.pki.PrivateKey,
  extensions: object[],
): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 128-bit serial: a leading 0x00..0x7f byte keeps the DER integer non-negative.
  cert.serialNumber = '7' + randomBytes(15).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60 * 1000);
  cert.validity.notAfter = new Date(now + TEN_YEARS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}
