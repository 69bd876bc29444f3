import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import forge from 'node-forge';
import { CA_CERT_KEY, CA_KEY_KEY, TRUST_KEY, type CAStore, type SecretState, type WebhookBundles } from '../../../src/certs/ca-store.ts';
import { parseBundle, renewAt } from '../../../src/certs/schedule.ts';
import { openSelfSignedSource, type SelfSignedOptions, type SelfSignedSource } from '../../../src/certs/self-signed.ts';
import { SELF_SIGNED_FLAGS, selfSignedConfigFromFlags } from '../../../src/certs/self-signed-flags.ts';
import { TlsSourceError } from '../../../src/certs/source.ts';
import { UsageError, parseFlags } from '../../../src/cli/flags.ts';
import { Registry } from 'prom-client';
import { captureLogger, until } from '../../helpers/tls.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const HOUR = 3600;

/**
 * The Secret and the webhook configuration in memory, with the apiserver's optimistic concurrency:
 * every write names the resourceVersion it read, and a stale one loses (as HTTP 409 would).
 * Each call yields to the event loop first, so replicas started together interleave.
 */
class FakeStore implements CAStore {
  readonly secretName = 'kl/kube-latch-self-signed-ca';
  secret: SecretState | undefined;
  config: WebhookBundles | undefined = { resourceVersion: '1', webhooks: [{ name: 'replicas.kube-latch.io', bundle: '' }] };
  #rv = 10;
  creates = 0;
  secretWrites = 0;
  bundleWrites = 0;
  failBundle: Error | undefined;
  failSecret: Error | undefined;
  failCreate: Error | undefined;
  #watchers = new Set<() => void>();

  async readSecret(): Promise<SecretState | undefined> {
    await tick();
    if (this.failSecret) throw this.failSecret;
    return this.secret && { data: { ...this.secret.data }, resourceVersion: this.secret.resourceVersion };
  }
  async createSecret(data: Record<string, string>): Promise<boolean> {
    await tick();
    if (this.secret) return false;
    if (this.failCreate) throw this.failCreate;
    this.creates++;
    this.secretWrites++;
    this.secret = { data: { ...data }, resourceVersion: String(++this.#rv) };
    return true;
  }
  async replaceSecret(data: Record<string, string>, resourceVersion: string): Promise<boolean> {
    await tick();
    if (!this.secret || this.secret.resourceVersion !== resourceVersion) return false;
    this.secretWrites++;
    this.secret = { data: { ...data }, resourceVersion: String(++this.#rv) };
    return true;
  }
  async readBundles(): Promise<WebhookBundles | undefined> {
    await tick();
    if (this.failBundle) throw this.failBundle;
    return this.config && { resourceVersion: this.config.resourceVersion, webhooks: this.config.webhooks.map((w) => ({ ...w })) };
  }
  async writeBundles(bundle: string, names: readonly string[], resourceVersion: string): Promise<boolean> {
    await tick();
    if (this.failBundle) throw this.failBundle;
    if (!this.config || this.config.resourceVersion !== resourceVersion) return false;
    this.bundleWrites++;
    this.config = {
      resourceVersion: String(++this.#rv),
      webhooks: this.config.webhooks.map((w) => (names.includes(w.name) ? { ...w, bundle } : w)),
    };
    return true;
  }
  watch(onEvent: () => void): () => void {
    this.#watchers.add(onEvent);
    return () => this.#watchers.delete(onEvent);
  }
  /** What a watch reports: someone else changed the Secret or the configuration (own writes stay silent, to keep passes under the test's control). */
  emit(): void {
    for (const w of this.#watchers) w();
  }
  /**
   * What `helm upgrade --force` (or Argo CD `Replace=true`) does: the Secret is replaced by the chart's
   * empty one, the configuration by the chart's, which has no caBundle.
   */
  replaceLikeHelmForce(what: { secret?: boolean; config?: boolean } = { secret: true, config: true }): void {
    if (what.secret) this.secret = { data: {}, resourceVersion: String(++this.#rv) };
    if (what.config) this.config = { resourceVersion: String(++this.#rv), webhooks: this.config!.webhooks.map((w) => ({ ...w, bundle: '' })) };
    this.emit();
  }
  /** fingerprints trusted by the (first) webhook */
  bundle(): string[] {
    return parseBundle(this.config?.webhooks[0]?.bundle ?? '').map((c) => c.fingerprint);
  }
}

function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

class Clock {
  t = Date.parse('2031-05-06T07:08:09Z');
  now = (): Date => new Date(this.t);
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
}

function options(store: CAStore, clock: Clock, over: Partial<SelfSignedOptions> = {}): SelfSignedOptions {
  return {
    namespace: 'kl',
    serviceName: 'kube-latch',
    webhookConfig: 'kube-latch',
    caSecret: 'kube-latch-self-signed-ca',
    caLifetimeSeconds: 90 * HOUR,
    certLifetimeSeconds: 9 * HOUR,
    extraSans: [],
    log: captureLogger('warn').log,
    store,
    now: clock.now,
    // Tests drive every pass by hand.
    intervalMs: 3_600_000,
    propagationMs: 60_000,
    ...over,
  };
}

const sources: SelfSignedSource[] = [];
async function open(store: CAStore, clock: Clock, over: Partial<SelfSignedOptions> = {}): Promise<SelfSignedSource> {
  const s = await openSelfSignedSource(options(store, clock, over));
  sources.push(s);
  return s;
}
test.after(async () => {
  for (const s of sources) await s.close();
});

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}
function caOf(store: FakeStore): X509Certificate {
  return new X509Certificate(store.secret!.data[CA_CERT_KEY]!);
}
function served(s: SelfSignedSource): X509Certificate {
  return new X509Certificate(s.current().cert);
}

describe('self-signed: first start', () => {
  test('creates the CA Secret, trusts the CA in caBundle and serves a leaf it signed', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    assert.equal(store.creates, 1);
    const ca = caOf(store);
    assert.equal(ca.ca, true);
    assert.ok(ca.checkPrivateKey((await import('node:crypto')).createPrivateKey(store.secret!.data[CA_KEY_KEY]!)));
    assert.deepEqual(parseBundle(store.secret!.data[TRUST_KEY]!).map((c) => c.fingerprint), [ca.fingerprint256]);
    assert.deepEqual(store.bundle(), [ca.fingerprint256]);
    const leaf = served(s);
    assert.ok(leaf.checkIssued(ca));
    assert.ok(leaf.verify(ca.publicKey));
    assert.equal(s.status()!.leafIssuer, ca.fingerprint256);
  });

  test('the leaf carries the Service names, extra SANs and the serverAuth EKU, with a random serial', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock, { extraSans: ['127.0.0.1', 'webhook.example.test'] });
    const leaf = served(s);
    assert.equal(
      leaf.subjectAltName,
      'DNS:kube-latch, DNS:kube-latch.kl, DNS:kube-latch.kl.svc, DNS:kube-latch.kl.svc.cluster.local, DNS:webhook.example.test, IP Address:127.0.0.1',
    );
    assert.equal(leaf.ca, false);
    const eku = forge.pki.certificateFromPem(s.current().cert).getExtension('extKeyUsage') as { serverAuth?: boolean; id: string };
    assert.equal(eku.serverAuth, true);
    assert.ok(leaf.keyUsage?.includes(SERVER_AUTH));
    const other = await open(new FakeStore(), clock);
    assert.notEqual(served(other).serialNumber, leaf.serialNumber);
  });

  test('fills the empty Secret that the Helm chart creates, keeping its resourceVersion contract', async () => {
    const store = new FakeStore();
    store.secret = { data: {}, resourceVersion: '5' };
    const s = await open(store, new Clock());
    assert.equal(store.creates, 0);
    assert.equal(store.secretWrites, 1);
    assert.equal(s.status()!.caFingerprint, caOf(store).fingerprint256);
  });

  test('replaces a Secret whose CA is unreadable or whose key does not match', async () => {
    const a = new FakeStore();
    await open(a, new Clock());
    const b = new FakeStore();
    await open(b, new Clock());
    const mismatched = new FakeStore();
    mismatched.secret = { data: { [CA_CERT_KEY]: a.secret!.data[CA_CERT_KEY]!, [CA_KEY_KEY]: b.secret!.data[CA_KEY_KEY]! }, resourceVersion: '3' };
    await open(mismatched, new Clock());
    assert.notEqual(caOf(mismatched).fingerprint256, caOf(a).fingerprint256);
    const garbage = new FakeStore();
    garbage.secret = { data: { [CA_CERT_KEY]: 'not a certificate', [CA_KEY_KEY]: 'nor a key' }, resourceVersion: '3' };
    await open(garbage, new Clock());
    assert.equal(caOf(garbage).ca, true);
  });

  test('replicas starting together agree on one CA: the first write wins, the others read it', async () => {
    for (const initial of [undefined, { data: {}, resourceVersion: '7' }]) {
      const store = new FakeStore();
      store.secret = initial;
      const clock = new Clock();
      const replicas = await Promise.all([0, 1, 2, 3, 4].map(() => open(store, clock)));
      const ca = caOf(store).fingerprint256;
      assert.equal(store.secretWrites, 1, 'exactly one replica wrote the CA');
      for (const r of replicas) assert.equal(r.status()!.leafIssuer, ca);
      assert.deepEqual(store.bundle(), [ca]);
      assert.equal(new Set(replicas.map((r) => served(r).serialNumber)).size, 5, 'one leaf per pod');
    }
  });

  test('without a webhook configuration it serves and renews without waiting for caBundle', async () => {
    const store = new FakeStore();
    store.config = undefined;
    const clock = new Clock();
    const { log, lines } = captureLogger('warn');
    const s = await open(store, clock, { log });
    assert.equal(s.status()!.bundle, undefined);
    assert.equal(lines.filter((l) => String(l['msg']).includes('does not exist')).length, 1);
    const first = s.status()!.leafSerial;
    clock.advance(7 * HOUR);
    assert.notEqual((await s.reconcile()).leafSerial, first);
  });

  test('with an empty webhookConfig it never reads the configuration', async () => {
    const store = new FakeStore();
    store.failBundle = new Error('must not be called');
    const s = await open(store, new Clock(), { webhookConfig: '' });
    assert.equal(s.status()!.bundleError, undefined);
  });

  test('a caBundle it cannot patch (RBAC) still lets the first leaf serve, and holds back renewals', async () => {
    const store = new FakeStore();
    store.failBundle = Object.assign(new Error('mutatingwebhookconfigurations "kube-latch" is forbidden'), { code: 403 });
    const clock = new Clock();
    const { log, lines } = captureLogger('warn');
    const s = await open(store, clock, { log });
    assert.match(s.status()!.bundleError!, /403.*forbidden|forbidden/);
    assert.ok(lines.some((l) => l['msg'] === 'self-signed: cannot keep caBundle current; serving anyway and retrying'));
    const first = s.status()!.leafSerial;
    clock.advance(7 * HOUR); // past 2/3 of 9 h
    const st = await s.reconcile();
    assert.equal(st.leafSerial, first, 'no renewal while caBundle is unknown');
    assert.equal(st.waiting, true);
    store.failBundle = undefined;
    await s.reconcile(); // trusted now, but not yet for the propagation delay
    clock.advance(61);
    assert.notEqual((await s.reconcile()).leafSerial, first);
  });

  test('a Secret it cannot read at all fails the start with a one-line TlsSourceError', async () => {
    const store = new FakeStore();
    store.failSecret = Object.assign(new Error('secrets "kube-latch-self-signed-ca" is forbidden'), { code: 403 });
    await assert.rejects(
      openSelfSignedSource({ ...options(store, new Clock()), log: captureLogger('fatal').log, startRetryDelaysMs: [0, 1, 1] }),
      (err: unknown) => err instanceof TlsSourceError && /kl\/kube-latch-self-signed-ca.*forbidden/.test(err.message) && !err.message.includes('\n'),
    );
  });
});

describe('self-signed: rotation', () => {
  test('the leaf is renewed at 2/3 of its life, not before, and the change is announced', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    const leaf = served(s);
    const due = renewAt({ notBefore: leaf.validFromDate, notAfter: leaf.validToDate });
    assert.equal(due.getTime() - (leaf.validFromDate.getTime() + 300_000), Math.floor((9 * HOUR * 1000 * 2) / 3));
    const changes: string[] = [];
    s.onChange((m) => changes.push(fingerprint(m.cert)));
    clock.t = due.getTime() - 1000;
    assert.equal((await s.reconcile()).leafSerial, s.status()!.leafSerial);
    assert.equal(changes.length, 0);
    clock.t = due.getTime();
    const st = await s.reconcile();
    assert.notEqual(st.leafSerial, leaf.serialNumber.toLowerCase());
    assert.deepEqual(changes, [fingerprint(s.current().cert)]);
    assert.equal(store.secretWrites, 1, 'the CA was not touched');
  });

  test('the CA is renewed at 2/3 of its life; caBundle trusts old and new; the new leaf waits for propagation', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const a = await open(store, clock);
    const b = await open(store, clock);
    const oldCa = caOf(store);
    const due = renewAt({ notBefore: oldCa.validFromDate, notAfter: oldCa.validToDate });
    // Fresh leaves just before the CA is due, so that only the CA renewal can change them.
    clock.t = due.getTime() - 1000;
    await a.reconcile();
    await b.reconcile();
    clock.t = due.getTime();
    const sa = await a.reconcile();
    const newCa = caOf(store);
    assert.notEqual(newCa.fingerprint256, oldCa.fingerprint256);
    assert.deepEqual(parseBundle(store.secret!.data[TRUST_KEY]!).map((c) => c.fingerprint), [newCa.fingerprint256, oldCa.fingerprint256]);
    assert.deepEqual(new Set(store.bundle()), new Set([newCa.fingerprint256, oldCa.fingerprint256]));
    assert.equal(sa.waiting, true);
    assert.equal(sa.leafIssuer, oldCa.fingerprint256, 'still serving the old leaf');
    // The other replica reads the renewed CA rather than renewing again.
    const sb = await b.reconcile();
    assert.equal(sb.caFingerprint, newCa.fingerprint256);
    assert.equal(store.secretWrites, 2);
    clock.advance(60);
    for (const r of [a, b]) {
      const st = await r.reconcile();
      assert.equal(st.leafIssuer, newCa.fingerprint256);
      assert.ok(served(r).checkIssued(newCa));
    }
    // The old CA leaves caBundle and the Secret's trust only when it expires.
    clock.t = oldCa.validToDate.getTime() - 1000;
    await a.reconcile();
    assert.ok(store.bundle().includes(oldCa.fingerprint256));
    clock.t = oldCa.validToDate.getTime();
    await a.reconcile();
    assert.deepEqual(store.bundle(), [newCa.fingerprint256]);
  });

  test('a leaf that falls due while the new CA is not yet trusted long enough is bridged on the previous CA', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const b = await open(store, clock);
    const oldCa = caOf(store);
    const caDue = renewAt({ notBefore: oldCa.validFromDate, notAfter: oldCa.validToDate }).getTime();
    // A starts 6 h (2/3 of its 9 h leaf) before the CA falls due, so both fall due together.
    clock.t = caDue - 6 * HOUR * 1000;
    const a = await open(store, clock);
    const first = a.status()!.leafSerial;
    clock.t = caDue;
    await b.reconcile(); // B renews the CA and publishes it in caBundle
    const newCa = caOf(store);
    assert.notEqual(newCa.fingerprint256, oldCa.fingerprint256);
    clock.advance(1);
    const bridged = await a.reconcile();
    assert.notEqual(bridged.leafSerial, first, 'the due leaf was renewed');
    assert.equal(bridged.leafIssuer, oldCa.fingerprint256, 'by the CA that caBundle has trusted for long enough');
    assert.ok(served(a).checkIssued(oldCa));
    assert.equal(bridged.waiting, true);
    clock.advance(60);
    const switched = await a.reconcile();
    assert.equal(switched.leafIssuer, newCa.fingerprint256);
    assert.equal(switched.waiting, false);
  });

  test('a due leaf is renewed before the pass waits on the API (slow or unreachable apiserver)', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    const first = served(s).serialNumber;
    clock.advance(7 * HOUR);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const readSecret = store.readSecret.bind(store);
    store.readSecret = async () => {
      await gate;
      return readSecret();
    };
    const renewed = new Promise<string>((r) => s.onChange((m) => r(new X509Certificate(m.cert).serialNumber)));
    const pass = s.reconcile();
    const serial = await renewed; // resolves while the Secret read is still blocked
    assert.notEqual(serial, first);
    release();
    await pass;
  });

  test('the timer fires when the leaf falls due, however long the regular period', async () => {
    const store = new FakeStore();
    // Real time, 3 s leaf: due 2 s after issue; the regular period is an hour.
    const s = await openSelfSignedSource({ ...options(store, new Clock()), now: undefined, certLifetimeSeconds: 3, propagationMs: 0, intervalMs: 3_600_000 });
    sources.push(s);
    const first = served(s).serialNumber;
    const next = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no renewal within 10 s')), 10_000);
      s.onChange((m) => {
        clearTimeout(t);
        resolve(new X509Certificate(m.cert).serialNumber);
      });
    });
    assert.notEqual(next, first);
  });

  test('a replica with an older view never removes a CA that caBundle already trusts', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    const ours = caOf(store).fingerprint256;
    // Someone (another replica, mid-rotation) trusts a further CA that our Secret does not name yet.
    const other = new FakeStore();
    await open(other, clock);
    const foreign = other.config!.webhooks[0]!.bundle;
    store.config = { resourceVersion: '99', webhooks: [{ name: 'replicas.kube-latch.io', bundle: store.config!.webhooks[0]!.bundle + foreign }] };
    await s.reconcile();
    assert.deepEqual(new Set(store.bundle()), new Set([ours, caOf(other).fingerprint256]));
  });

  test('keeps every webhook of the configuration current, and repairs a caBundle someone cleared', async () => {
    const store = new FakeStore();
    store.config = {
      resourceVersion: '1',
      webhooks: [
        { name: 'a.kube-latch.io', bundle: '' },
        { name: 'b.kube-latch.io', bundle: '' },
      ],
    };
    const clock = new Clock();
    const s = await open(store, clock);
    const ca = caOf(store).fingerprint256;
    for (const w of store.config.webhooks) assert.deepEqual(parseBundle(w.bundle).map((c) => c.fingerprint), [ca]);
    store.config = { resourceVersion: '50', webhooks: store.config.webhooks.map((w) => ({ ...w, bundle: '' })) };
    const writes = store.bundleWrites;
    await s.reconcile();
    assert.equal(store.bundleWrites, writes + 1);
    assert.deepEqual(store.bundle(), [ca]);
    await s.reconcile();
    assert.equal(store.bundleWrites, writes + 1, 'no write when nothing changes');
  });

  test('property: whatever the interleaving of replicas, time and helm upgrade --force, a served leaf is always trusted by caBundle', async () => {
    // Each step advances time, then lets one replica reconcile, or empties Secret and caBundle as
    // `helm upgrade --force` does and lets every replica react. Invariants after every step:
    // - every replica serves a leaf whose CA is in caBundle (once it has been published), and
    // - no CA that has not expired ever leaves caBundle.
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ replica: fc.nat(2), advance: fc.integer({ min: 0, max: 40 * 60 }), force: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        async (steps) => {
          const store = new FakeStore();
          const clock = new Clock();
          const opts = { caLifetimeSeconds: 6 * HOUR, certLifetimeSeconds: 2 * HOUR, propagationMs: 30_000, log: captureLogger('fatal').log };
          const replicas = await Promise.all([0, 1, 2].map(() => openSelfSignedSource(options(store, clock, opts))));
          try {
            let everTrusted = new Map<string, number>(); // fingerprint → notAfter
            const check = (): void => {
              const bundle = parseBundle(store.config!.webhooks[0]!.bundle);
              const now = clock.t;
              for (const [fp, notAfter] of everTrusted) {
                if (notAfter > now) assert.ok(bundle.some((c) => c.fingerprint === fp), 'an unexpired CA left caBundle');
              }
              everTrusted = new Map([...everTrusted, ...bundle.map((c) => [c.fingerprint, c.notAfter.getTime()] as const)]);
              for (const r of replicas) {
                const issuer = r.status()!.leafIssuer;
                assert.ok(bundle.some((c) => c.fingerprint === issuer), 'a replica serves a leaf whose CA caBundle does not trust');
              }
            };
            check();
            for (const step of steps) {
              clock.advance(step.advance);
              if (step.force && step.replica === 0) {
                // helm upgrade --force: Secret and caBundle emptied; every replica's watch fires, in any order.
                store.replaceLikeHelmForce();
                everTrusted = new Map();
                for (const i of [step.advance % 3, (step.advance + 1) % 3, (step.advance + 2) % 3]) await replicas[i]!.reconcile();
              } else {
                await replicas[step.replica]!.reconcile();
              }
              check();
            }
          } finally {
            for (const r of replicas) await r.close();
          }
        },
      ),
      { numRuns: 10 },
    );
  });
});

/** kube_latch_tls_ca_repairs_total by object, as /metrics shows it. */
async function repairs(s: SelfSignedSource): Promise<Record<string, number>> {
  const registry = new Registry();
  s.registerMetrics(registry);
  const m = await registry.getSingleMetric('kube_latch_tls_ca_repairs_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels['object']), v.value]));
}

describe('self-signed: helm upgrade --force, a replaced webhook configuration, a deleted Secret', () => {
  test('Secret and caBundle emptied together: the served leaf\'s CA is back in caBundle next to the new CA in one pass, then the leaf moves to the new CA', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const { log, lines } = captureLogger('info');
    const s = await open(store, clock, { log });
    const oldCa = caOf(store);
    const oldLeaf = served(s);
    assert.deepEqual(await repairs(s), { 'ca-bundle': 0, 'ca-secret': 0 }, 'a first start repairs nothing');
    clock.advance(60);

    store.replaceLikeHelmForce();
    const st = await s.reconcile();
    const newCa = caOf(store);
    assert.notEqual(newCa.fingerprint256, oldCa.fingerprint256, 'the emptied Secret holds a new CA');
    assert.deepEqual(store.bundle(), [newCa.fingerprint256, oldCa.fingerprint256], 'caBundle: the new CA, and the one the served leaf needs');
    assert.equal(served(s).serialNumber, oldLeaf.serialNumber, 'the old leaf keeps serving, and verifies');
    assert.equal(st.waiting, true);
    assert.deepEqual(await repairs(s), { 'ca-bundle': 1, 'ca-secret': 1 });
    const warned = lines.filter((l) => l['level'] === 40).map((l) => String(l['msg']));
    assert.ok(warned.some((m) => m.startsWith('self-signed: caBundle had lost the CA of the served certificate')), warned.join(' | '));
    assert.ok(warned.some((m) => m.startsWith('self-signed: the CA Secret had lost its CA')), warned.join(' | '));

    // After the propagation delay the leaf moves to the new CA; both stay trusted (the old until it expires).
    clock.advance(61);
    const moved = await s.reconcile();
    assert.equal(moved.leafIssuer, newCa.fingerprint256);
    assert.ok(served(s).checkIssued(newCa));
    assert.deepEqual(new Set(store.bundle()), new Set([newCa.fingerprint256, oldCa.fingerprint256]));
    assert.deepEqual(await repairs(s), { 'ca-bundle': 1, 'ca-secret': 1 }, 'the move is no repair');
  });

  test('only the webhook configuration replaced: caBundle repaired with the same CA, the Secret untouched', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    const ca = caOf(store).fingerprint256;
    const writes = store.secretWrites;
    store.replaceLikeHelmForce({ config: true });
    await s.reconcile();
    assert.deepEqual(store.bundle(), [ca]);
    assert.equal(store.secretWrites, writes);
    assert.deepEqual(await repairs(s), { 'ca-bundle': 1, 'ca-secret': 0 });
  });

  test('a CA renewal and an expired CA leaving change caBundle; neither is a repair', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock);
    const ca = caOf(store);
    clock.t = renewAt({ notBefore: ca.validFromDate, notAfter: ca.validToDate }).getTime();
    await s.reconcile();
    assert.equal(store.bundle().length, 2);
    clock.t = ca.validToDate.getTime();
    await s.reconcile();
    assert.equal(store.bundle().length, 1);
    assert.deepEqual(await repairs(s), { 'ca-bundle': 0, 'ca-secret': 0 });
  });

  test('the watch runs the repair: no timer tick needed', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock, { intervalMs: 3_600_000, debounceMs: 10 });
    const ca = caOf(store).fingerprint256;
    store.replaceLikeHelmForce({ config: true });
    assert.deepEqual(store.bundle(), []);
    await until(() => store.bundle().includes(ca), 'caBundle repaired after the watch event');
    assert.deepEqual((await repairs(s))['ca-bundle'], 1);
  });

  test('a watch event during a pass runs another pass right after it', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const s = await open(store, clock, { intervalMs: 3_600_000, debounceMs: 10 });
    const ca = caOf(store).fingerprint256;
    // Hold a pass right after it has read the configuration, replace the configuration meanwhile, then
    // let it go: that pass decides on what it read (nothing to do), so only a further pass can repair.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    const readBundles = store.readBundles.bind(store);
    store.readBundles = async () => {
      const read = await readBundles();
      held = true;
      await gate;
      return read;
    };
    store.emit();
    await until(() => held, 'a pass holding what it read');
    store.readBundles = readBundles;
    store.config = { resourceVersion: '77', webhooks: store.config!.webhooks.map((w) => ({ ...w, bundle: '' })) };
    store.emit();
    release();
    await until(() => store.bundle().includes(ca), 'the pass after the one that was running repairs caBundle');
  });

  test('a deleted CA Secret and no create permission: a new pod fails to start with a one-line message that says what to do', async () => {
    const store = new FakeStore();
    store.secret = undefined;
    store.failCreate = Object.assign(new Error('secrets is forbidden: User "system:serviceaccount:kl:kube-latch" cannot create resource "secrets"'), { code: 403 });
    await assert.rejects(
      openSelfSignedSource({ ...options(store, new Clock()), log: captureLogger('fatal').log, startRetryDelaysMs: [0, 1] }),
      (err: unknown) => {
        assert.ok(err instanceof TlsSourceError);
        assert.equal(
          err.message,
          'self-signed: CA Secret kl/kube-latch-self-signed-ca is missing and this service account may not create it: re-run `helm upgrade` (the chart creates it)',
        );
        return true;
      },
    );
  });

  test('a deleted CA Secret under a running pod: it keeps serving and keeping caBundle, and says what to do', async () => {
    const store = new FakeStore();
    const clock = new Clock();
    const { log, lines } = captureLogger('error');
    const s = await open(store, clock, { log, intervalMs: 3_600_000, debounceMs: 10 });
    const ca = caOf(store).fingerprint256;
    const leaf = served(s).serialNumber;
    store.failCreate = Object.assign(new Error('forbidden'), { code: 403 });
    store.secret = undefined;
    store.config = { resourceVersion: '88', webhooks: store.config!.webhooks.map((w) => ({ ...w, bundle: '' })) };
    store.emit();
    await until(() => store.bundle().includes(ca), 'caBundle repaired from the CA last read');
    assert.equal(served(s).serialNumber, leaf);
    assert.match(s.status()!.secretError!, /^CA Secret kl\/kube-latch-self-signed-ca is missing and this service account may not create it: re-run `helm upgrade`/);
    await until(() => lines.some((l) => String(l['err']).includes('re-run `helm upgrade`')), 'the error logged');
  });
});

describe('self-signed: flags', () => {
  const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => selfSignedConfigFromFlags(parseFlags(SELF_SIGNED_FLAGS, argv, env));

  test('every setting comes from a flag or its KUBE_LATCH_* variable; lifetimes take units', () => {
    assert.deepEqual(
      parse([], {
        KUBE_LATCH_NAMESPACE: 'tools',
        KUBE_LATCH_SERVICE_NAME: 'kl',
        KUBE_LATCH_WEBHOOK_CONFIG: 'kl-hook',
        KUBE_LATCH_CA_SECRET: 'kl-ca',
        KUBE_LATCH_CA_LIFETIME: '90s',
        KUBE_LATCH_CERT_LIFETIME: '30',
        KUBE_LATCH_CERT_SAN: '127.0.0.1,hook.local',
        KUBE_LATCH_KUBECONFIG: '/etc/kl/kubeconfig',
      }),
      {
        namespace: 'tools',
        serviceName: 'kl',
        webhookConfig: 'kl-hook',
        caSecret: 'kl-ca',
        caLifetimeSeconds: 90,
        certLifetimeSeconds: 30,
        extraSans: ['127.0.0.1', 'hook.local'],
        kubeconfig: '/etc/kl/kubeconfig',
      },
    );
    const d = parse(['--namespace', 'ns']);
    assert.equal(d.caLifetimeSeconds, 8760 * HOUR);
    assert.equal(d.certLifetimeSeconds, 720 * HOUR);
    assert.equal(d.webhookConfig, 'kube-latch');
    assert.equal(parse(['--namespace', 'ns', '--webhook-config', '']).webhookConfig, '');
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['a lifetime that is not a duration', ['--namespace', 'ns', '--ca-lifetime', 'soon'], /--ca-lifetime must be seconds/],
    ['a lifetime under 3 s', ['--namespace', 'ns', '--cert-lifetime', '2s'], /--cert-lifetime must be at least 3 seconds/],
    ['a namespace that is not a DNS label', ['--namespace', 'Tools_1'], /--namespace must be a DNS label/],
    ['a SAN that is neither a name nor an IP', ['--namespace', 'ns', '--cert-san', 'a b'], /--cert-san must be a DNS name or an IP/],
  ];
  for (const [what, argv, message] of bad) {
    test(`rejects ${what} with a one-line UsageError`, () => {
      assert.throws(() => parse(argv), (e: unknown) => e instanceof UsageError && message.test(e.message) && !e.message.includes('\n'));
    });
  }
});
