import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, test } from 'node:test';
import forge from 'node-forge';
import { CLOCK_SKEW_SECONDS, createCA, createLeaf, randomSerial, serviceDnsNames } from '../../../src/certs/authority.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const now = new Date('2030-01-02T03:04:05.678Z');
const ca = createCA({ commonName: 'kube-latch-ca', validitySeconds: 365 * 86400, now });
const dnsNames = serviceDnsNames('kube-latch', 'tools');
const leaf = createLeaf(ca, { commonName: 'kube-latch', dnsNames, ipAddresses: ['127.0.0.1', '::1'], validitySeconds: 30 * 86400, now });
const caX = new X509Certificate(ca.cert);
const leafX = new X509Certificate(leaf.cert);

function ext<T>(pem: string, name: string): T {
  const e = forge.pki.certificateFromPem(pem).getExtension(name);
  assert.ok(e, `extension ${name} present`);
  return e as T;
}

describe('serviceDnsNames', () => {
  test('lists the four in-cluster names of a Service', () => {
    assert.deepEqual(serviceDnsNames('web', 'prod'), ['web', 'web.prod', 'web.prod.svc', 'web.prod.svc.cluster.local']);
  });
});

describe('createCA', () => {
  test('is a self-signed CA certificate allowed to sign certificates', () => {
    assert.equal(caX.ca, true);
    assert.equal(caX.subject, 'CN=kube-latch-ca');
    assert.equal(caX.issuer, 'CN=kube-latch-ca');
    assert.ok(caX.checkIssued(caX));
    assert.ok(caX.verify(caX.publicKey));
    const bc = ext<{ cA: boolean; critical: boolean }>(ca.cert, 'basicConstraints');
    assert.equal(bc.cA, true);
    assert.equal(bc.critical, true);
    const ku = ext<{ keyCertSign: boolean; cRLSign: boolean }>(ca.cert, 'keyUsage');
    assert.equal(ku.keyCertSign, true);
    assert.equal(ku.cRLSign, true);
  });

  test('key is an RSA 2048 PKCS#8 key that matches the certificate', () => {
    assert.match(ca.key, /^-----BEGIN PRIVATE KEY-----/);
    const key = createPrivateKey(ca.key);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.ok(caX.checkPrivateKey(key));
  });

  test('validity is backdated for clock skew and ends validitySeconds after now (second precision)', () => {
    const t = Math.floor(now.getTime() / 1000) * 1000;
    assert.equal(caX.validFromDate.getTime(), t - CLOCK_SKEW_SECONDS * 1000);
    assert.equal(caX.validToDate.getTime(), t + 365 * 86400 * 1000);
    assert.equal(ca.notBefore.getTime(), caX.validFromDate.getTime());
    assert.equal(ca.notAfter.getTime(), caX.validToDate.getTime());
  });

  test('rejects an empty common name and a non-positive validity', () => {
    assert.throws(() => createCA({ commonName: ' ', validitySeconds: 60 }), /common name/);
    assert.throws(() => createCA({ commonName: 'x', validitySeconds: 0 }), /validity/);
    assert.throws(() => createCA({ commonName: 'x', validitySeconds: Number.NaN }), /validity/);
  });
});

describe('createLeaf', () => {
  test('carries every DNS and IP SAN and nothing else', () => {
    assert.equal(
      leafX.subjectAltName,
      [...dnsNames.map((d) => `DNS:${d}`), 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1'].join(', '),
    );
    for (const d of dnsNames) assert.equal(leafX.checkHost(d), d);
    assert.equal(leafX.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leafX.checkIP('::1'), '::1');
    assert.equal(leafX.checkHost('kube-latch.other.svc'), undefined);
    assert.equal(leafX.checkIP('10.0.0.1'), undefined);
  });

  test('is a non-CA serverAuth certificate for signatures and key encipherment', () => {
    assert.equal(leafX.ca, false);
    assert.deepEqual(leafX.keyUsage, [SERVER_AUTH]);
    const ku = ext<{ digitalSignature: boolean; keyEncipherment: boolean; keyCertSign?: boolean }>(leaf.cert, 'keyUsage');
    assert.equal(ku.digitalSignature, true);
    assert.equal(ku.keyEncipherment, true);
    assert.ok(!ku.keyCertSign);
    assert.equal(leafX.subject, 'CN=kube-latch');
    assert.equal(leafX.issuer, 'CN=kube-latch-ca');
  });

  test('chains to the CA (Node and node-forge agree)', () => {
    assert.ok(leafX.checkIssued(caX));
    assert.ok(leafX.verify(caX.publicKey));
    assert.ok(leafX.checkPrivateKey(createPrivateKey(leaf.key)));
    const store = forge.pki.createCaStore([ca.cert]);
    assert.equal(forge.pki.verifyCertificateChain(store, [forge.pki.certificateFromPem(leaf.cert)], { validityCheckDate: now }), true);
  });

  test('does not chain to another CA', () => {
    const other = createCA({ commonName: 'kube-latch-ca', validitySeconds: 3600, now });
    const otherX = new X509Certificate(other.cert);
    assert.equal(leafX.verify(otherX.publicKey), false);
    const store = forge.pki.createCaStore([other.cert]);
    assert.throws(() => forge.pki.verifyCertificateChain(store, [forge.pki.certificateFromPem(leaf.cert)], { validityCheckDate: now }));
  });

  test('authority key identifier names the CA key', () => {
    const ski = ext<{ subjectKeyIdentifier: string }>(ca.cert, 'subjectKeyIdentifier').subjectKeyIdentifier;
    const aki = forge.pki.certificateFromPem(leaf.cert).getExtension('authorityKeyIdentifier') as { value: string };
    // DER: SEQUENCE { [0] keyIdentifier }; the last 20 bytes are the SHA-1 key id
    assert.equal(forge.util.bytesToHex(aki.value).slice(-40), ski);
  });

  test('validity: backdated, as requested, never beyond the CA', () => {
    const t = Math.floor(now.getTime() / 1000) * 1000;
    assert.equal(leafX.validFromDate.getTime(), t - CLOCK_SKEW_SECONDS * 1000);
    assert.equal(leafX.validToDate.getTime(), t + 30 * 86400 * 1000);
    const long = createLeaf(ca, { commonName: 'x', dnsNames: ['x'], validitySeconds: 10 * 365 * 86400, now });
    assert.equal(long.notAfter.getTime(), ca.notAfter.getTime());
    assert.equal(new X509Certificate(long.cert).validToDate.getTime(), ca.notAfter.getTime());
  });

  test('the returned serial is the certificate serial', () => {
    assert.equal(leaf.serial, leafX.serialNumber.toLowerCase());
    assert.equal(ca.serial, caX.serialNumber.toLowerCase());
    assert.notEqual(leaf.serial, ca.serial);
  });

  const bad: Array<[string, Parameters<typeof createLeaf>[1], RegExp]> = [
    ['no SAN at all', { commonName: 'x', validitySeconds: 60 }, /at least one DNS name or IP/],
    ['an IP that is not one', { commonName: 'x', ipAddresses: ['256.1.1.1'], validitySeconds: 60 }, /not an IP address/],
    ['a DNS name with a space', { commonName: 'x', dnsNames: ['a b'], validitySeconds: 60 }, /not a DNS name/],
    ['a DNS name with a trailing dot-dash', { commonName: 'x', dnsNames: ['a-.b'], validitySeconds: 60 }, /not a DNS name/],
    ['an empty common name', { commonName: '', dnsNames: ['a'], validitySeconds: 60 }, /common name/],
    ['a negative validity', { commonName: 'x', dnsNames: ['a'], validitySeconds: -1 }, /validity/],
  ];
  for (const [what, opts, err] of bad) {
    test(`rejects ${what}`, () => assert.throws(() => createLeaf(ca, opts), err));
  }
});

describe('randomSerial', () => {
  test('is 128 bits, positive, and minimally DER-encoded (first byte 0x01..0x7f)', () => {
    for (let i = 0; i < 2000; i++) {
      const s = randomSerial();
      assert.match(s, /^[0-9a-f]{32}$/);
      const first = parseInt(s.slice(0, 2), 16);
      assert.ok(first >= 0x01 && first <= 0x7f, `first byte ${first}`);
    }
  });

  test('does not repeat', () => {
    const seen = new Set(Array.from({ length: 5000 }, randomSerial));
    assert.equal(seen.size, 5000);
  });
});
