import assert from 'node:assert/strict';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { CertifiedKey } from '../../../src/certs/authority.ts';
import { openFileSource } from '../../../src/certs/file-source.ts';
import { loadTlsSource, staticTlsSource, TlsSourceError, UnsupportedCertsModeError, type TlsMaterial, type TlsSource } from '../../../src/certs/source.ts';
import { captureLogger, kubeletWrite, loopbackLeaf, makePki, presentedSerial, tempDir, until, writeCertDir, type TestPki } from '../../helpers/tls.ts';

let pki: TestPki;
let rotated: CertifiedKey[];
const cleanups: Array<() => void | Promise<void>> = [];

before(() => {
  pki = makePki('file-source');
  rotated = [loopbackLeaf(pki.ca), loopbackLeaf(pki.ca), loopbackLeaf(pki.ca)];
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A TLS server that applies the source's changes with setSecureContext, as the webhook does. */
async function serve(source: TlsSource): Promise<number> {
  const server: Server = createServer({ ...source.current(), minVersion: 'TLSv1.2' }, (s) => s.end());
  source.onChange((m) => server.setSecureContext({ ...m, minVersion: 'TLSv1.2' }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

function nextChange(source: TlsSource, timeoutMs = 5000): Promise<TlsMaterial> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error('no reload within ' + timeoutMs + ' ms'));
    }, timeoutMs);
    const off = source.onChange((m) => {
      clearTimeout(t);
      off();
      resolve(m);
    });
  });
}

async function open(dir: string, pollIntervalMs = 60_000) {
  const { log, lines } = captureLogger();
  const source = await openFileSource({ certDir: dir, log, pollIntervalMs });
  cleanups.push(() => source.close());
  return { source, lines };
}

function tmp(prefix: string): string {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('file TLS source', () => {
  test('serves the pair on disk and reloads it when the files are rewritten in place', async () => {
    const dir = tmp('rewrite');
    await writeCertDir(dir, pki.leaf);
    const { source, lines } = await open(dir);
    assert.equal(source.current().cert, pki.leaf.cert);
    const port = await serve(source);
    assert.equal(await presentedSerial(port, pki.ca.cert), pki.leaf.serial);

    const changed = nextChange(source);
    await writeCertDir(dir, rotated[0]!);
    assert.equal((await changed).cert, rotated[0]!.cert);
    assert.equal(await presentedSerial(port, pki.ca.cert), rotated[0]!.serial);
    assert.ok(lines.some((l) => l['msg'] === 'serving certificate reloaded' && l['serial'] === rotated[0]!.serial));
  });

  test('follows the kubelet atomic ..data symlink swap', async () => {
    const dir = tmp('kubelet');
    await kubeletWrite(dir, pki.leaf);
    const { source } = await open(dir);
    const port = await serve(source);
    assert.equal(await presentedSerial(port, pki.ca.cert), pki.leaf.serial);

    for (const next of rotated) {
      const changed = nextChange(source);
      await kubeletWrite(dir, next);
      await changed;
      assert.equal(await presentedSerial(port, pki.ca.cert), next.serial);
    }
  });

  test('keeps serving the previous pair when the new one does not match, logs once, then takes a good one', async () => {
    const dir = tmp('mismatch');
    await kubeletWrite(dir, pki.leaf);
    const { source, lines } = await open(dir, 50);
    const port = await serve(source);

    // cert of one leaf with the key of another, published atomically
    await kubeletWrite(dir, { cert: rotated[0]!.cert, key: rotated[1]!.key });
    const rejected = () => lines.filter((l) => l['msg'] === 'new TLS files rejected; still serving the previous certificate');
    await until(() => rejected().length > 0, 'the rejection log line');
    assert.match(String(rejected()[0]!['err']), /does not match/);
    assert.equal(rejected()[0]!['level'], 50); // pino error
    await new Promise((r) => setTimeout(r, 300)); // several polls of the same bad pair
    assert.equal(rejected().length, 1);
    assert.equal(source.current().cert, pki.leaf.cert);
    assert.equal(await presentedSerial(port, pki.ca.cert), pki.leaf.serial);

    const changed = nextChange(source);
    await kubeletWrite(dir, rotated[1]!);
    await changed;
    assert.equal(await presentedSerial(port, pki.ca.cert), rotated[1]!.serial);
  });

  const garbage: Array<[string, (l: CertifiedKey) => TlsMaterial, RegExp]> = [
    ['a certificate that is not PEM', (l) => ({ cert: 'not a certificate\n', key: l.key }), /certificate does not parse/],
    ['a key that is not PEM', (l) => ({ cert: l.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }), /private key does not parse/],
    ['empty files', () => ({ cert: '', key: '' }), /does not parse/],
  ];
  for (const [what, make, err] of garbage) {
    test(`rejects ${what} and keeps the previous pair`, async () => {
      const dir = tmp('garbage');
      await writeCertDir(dir, pki.leaf);
      const { source, lines } = await open(dir, 50);
      await writeCertDir(dir, make(pki.leaf));
      const line = await until(() => lines.find((l) => l['msg'] === 'new TLS files rejected; still serving the previous certificate'), 'rejection');
      assert.match(String(line['err']), err);
      assert.equal(source.current().cert, pki.leaf.cert);
    });
  }

  test('keeps the previous pair when the files disappear', async () => {
    const dir = tmp('vanish');
    await kubeletWrite(dir, pki.leaf);
    const { source, lines } = await open(dir, 50);
    await rename(join(dir, '..data'), join(dir, '..gone'));
    const line = await until(() => lines.find((l) => l['msg'] === 'new TLS files rejected; still serving the previous certificate'), 'rejection');
    assert.match(String(line['err']), /ENOENT/);
    assert.equal(source.current().cert, pki.leaf.cert);
  });

  test('polling catches a change the directory watch cannot see (the mount itself replaced)', async () => {
    // --cert-dir is a symlink; swapping it leaves the watch on the old directory, so only polling sees it.
    const root = tmp('poll');
    await mkdir(join(root, 'a'));
    await mkdir(join(root, 'b'));
    await writeCertDir(join(root, 'a'), pki.leaf);
    await writeCertDir(join(root, 'b'), rotated[2]!);
    await symlink('a', join(root, 'certs'));
    const { source } = await open(join(root, 'certs'), 100);
    const port = await serve(source);
    const changed = nextChange(source);
    await symlink('b', join(root, 'certs.tmp'));
    await rename(join(root, 'certs.tmp'), join(root, 'certs'));
    await changed;
    assert.equal(await presentedSerial(port, pki.ca.cert), rotated[2]!.serial);
  });

  test('does not announce a change when the content is the same', async () => {
    const dir = tmp('same');
    await writeCertDir(dir, pki.leaf);
    const { source } = await open(dir, 50);
    let changes = 0;
    source.onChange(() => changes++);
    await writeCertDir(dir, pki.leaf);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(changes, 0);
  });

  test('fails to open when the files are missing or do not match', async () => {
    const { log } = captureLogger();
    const empty = tmp('empty');
    await assert.rejects(openFileSource({ certDir: empty, log }), (e: Error) => e instanceof TlsSourceError && /cannot read TLS files in .*ENOENT/.test(e.message));
    await assert.rejects(openFileSource({ certDir: join(empty, 'nope'), log }), TlsSourceError);
    const bad = tmp('bad');
    await writeFile(join(bad, 'tls.crt'), pki.leaf.cert);
    await writeFile(join(bad, 'tls.key'), rotated[0]!.key);
    await assert.rejects(openFileSource({ certDir: bad, log }), (e: Error) => e instanceof TlsSourceError && /tls\.crt: private key does not match/.test(e.message) && !e.message.includes('\n'));
  });

  test('close stops reloading', async () => {
    const dir = tmp('closed');
    await writeCertDir(dir, pki.leaf);
    const { log } = captureLogger();
    const source = await openFileSource({ certDir: dir, log, pollIntervalMs: 50 });
    let changes = 0;
    source.onChange(() => changes++);
    await source.close();
    await writeCertDir(dir, rotated[0]!);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(changes, 0);
    assert.equal(source.current().cert, pki.leaf.cert);
  });
});

describe('loadTlsSource', () => {
  test('file mode reads --cert-dir', async () => {
    const dir = tmp('load');
    await writeCertDir(dir, pki.leaf);
    const source = await loadTlsSource('file', { certDir: dir, log: captureLogger().log });
    cleanups.push(() => source.close());
    assert.equal(source.current().key, pki.leaf.key);
  });

  test('self-signed mode without its settings is a clean usage error', async () => {
    await assert.rejects(loadTlsSource('self-signed', { certDir: '/nonexistent', log: captureLogger().log }), UnsupportedCertsModeError);
  });

  test('staticTlsSource validates its pair', () => {
    assert.equal(staticTlsSource(pki.leaf).current().cert, pki.leaf.cert);
    assert.throws(() => staticTlsSource({ cert: pki.leaf.cert, key: rotated[0]!.key }), /does not match/);
  });
});
