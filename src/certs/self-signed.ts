// `--certs self-signed`: the webhook is its own certificate authority.
//
// - The CA lives in a Secret of the release namespace, shared by every replica. It is created when absent
//   (or empty, as the Helm chart creates it); when replicas race, the first write wins and the others read it.
// - Each pod signs its own serving certificate (leaf) with the CA and keeps it in memory only.
// - Both are renewed at 2/3 of their life. A renewed CA is written to the Secret next to the old one, and the
//   webhook configuration's caBundle trusts both until the old one expires.
// - A new leaf is served only once the caBundle has trusted its CA for a propagation delay, so the apiserver
//   never meets a certificate it cannot verify. The old leaf keeps serving until then.
// - caBundle always trusts the CA of the leaf being served, whatever the Secret says. `helm upgrade --force`
//   and Argo CD `Replace=true` empty the Secret and caBundle together: the Secret is refilled with a new CA,
//   and caBundle is repaired with the new CA and the one the served leaf needs (counted and logged).
//
// One reconcile pass does all of this; it runs at start, whenever the Secret or the webhook configuration
// changes (a watch on each), and on a short timer in case a watch misses something. Every step is idempotent.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { firstLine, loadKubeConfig, statusOf, type KubeConfig } from '../kube/client.ts';
import type { Logger } from '../log.ts';
import { createCA, createLeaf, serviceDnsNames, type CertifiedKey } from './authority.ts';
import { CA_CERT_KEY, CA_KEY_KEY, TRUST_KEY, kubeCAStore, type CAStore } from './ca-store.ts';
import {
  contains,
  desiredBundle,
  describeCert,
  formatBundle,
  isDue,
  isExpired,
  parseBundle,
  renewAt,
  sameCerts,
  type BundleCert,
} from './schedule.ts';
import type { SelfSignedConfig } from './self-signed-flags.ts';
import { TlsSourceError, type TlsMaterial, type TlsSource } from './source.ts';

export type { SelfSignedConfig } from './self-signed-flags.ts';

export interface SelfSignedOptions extends SelfSignedConfig {
  log: Logger;
  /** the cluster state; defaults to the Secret and webhook configuration through client-node */
  store?: CAStore;
  kubeConfig?: KubeConfig;
  now?: () => Date;
  /**
   * Period of the passes that run without a watch event (a missed event, a watch that RBAC refuses);
   * defaults to 1/30 of the shortest lifetime, between 1 s and 10 s.
   */
  intervalMs?: number;
  /** how long a pass waits after a watch event, so that objects replaced together are read together (default 100 ms) */
  debounceMs?: number;
  /**
   * How long a CA must have been seen in caBundle before a leaf it signed is served, for the apiservers'
   * informers to pick up the new bundle. Defaults to 1/20 of the leaf lifetime, between 1 s and 30 s.
   */
  propagationMs?: number;
  /** waits before each start attempt while the CA cannot be read (default 0, 0.5, 1, 2, 4 s) */
  startRetryDelaysMs?: readonly number[];
}

/** The CA as the Secret holds it. */
interface Authority {
  ca: CertifiedKey;
  caCert: BundleCert;
  /** every CA to trust, current first, none expired */
  trusted: BundleCert[];
}

interface Leaf {
  material: TlsMaterial;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** fingerprint of the CA that signed it */
  issuer: string;
  /** that CA with its key, kept to bridge a renewal while a newer CA is not yet trusted long enough */
  signer: Pick<Authority, 'ca' | 'caCert'>;
}

/** What this replica knows of caBundle: no configuration to keep, unknown (the last read failed), or the CAs in it. */
type BundleState = 'none' | 'unknown' | BundleCert[];

/** What a reconcile pass found and did; tests and logs read it. */
export interface SelfSignedStatus {
  caFingerprint: string;
  trusted: string[];
  /** the CA fingerprints in caBundle after the pass; undefined when there is no webhook configuration */
  bundle: string[] | undefined;
  leafSerial: string;
  leafIssuer: string;
  leafNotAfter: Date;
  /** a new leaf is due but waits for caBundle */
  waiting: boolean;
  /** why caBundle could not be read or written in this pass (the leaf then waits, unless there is none) */
  bundleError?: string;
  /** why the CA Secret could not be read or written in this pass (the CA last read is kept meanwhile) */
  secretError?: string;
}

/**
 * The CA Secret is gone and cannot be made again: the chart grants no `create` on Secrets, by design
 * (docs/rbac.md). The message says what to do.
 */
export class CASecretMissingError extends Error {
  override name = 'CASecretMissingError';
  constructor(secretName: string) {
    super(`CA Secret ${secretName} is missing and this service account may not create it: re-run \`helm upgrade\` (the chart creates it)`);
  }
}

/**
 * Starts self-signed mode: makes sure the CA exists, trusts it in caBundle, signs a leaf and keeps all
 * three current on a timer. Throws TlsSourceError when the CA cannot be read or created at all.
 */
export async function openSelfSignedSource(opts: SelfSignedOptions): Promise<SelfSignedSource> {
  const store = opts.store ?? kubeCAStore(opts.kubeConfig ?? loadKubeConfig({ file: opts.kubeconfig, context: opts.context }), {
    namespace: opts.namespace,
    secretName: opts.caSecret,
    webhookConfig: opts.webhookConfig,
  });
  const source = new SelfSignedSource(opts, store);
  let lastError: unknown;
  for (const delay of opts.startRetryDelaysMs ?? [0, 500, 1000, 2000, 4000]) {
    if (delay) await sleep(delay);
    try {
      const status = await source.reconcile();
      lastError = undefined;
      if (status.bundleError !== undefined) {
        opts.log.error({ err: status.bundleError, webhookConfig: opts.webhookConfig }, 'self-signed: cannot keep caBundle current; serving anyway and retrying');
      }
      break;
    } catch (err) {
      lastError = err;
      opts.log.warn({ err: firstLine(err), secret: store.secretName }, 'self-signed: cannot set up the CA yet; retrying');
    }
  }
  if (lastError instanceof CASecretMissingError) throw new TlsSourceError(`self-signed: ${lastError.message}`);
  if (lastError !== undefined) {
    throw new TlsSourceError(`self-signed: cannot read or create the CA Secret ${store.secretName}: ${firstLine(lastError)}`);
  }
  source.start();
  return source;
}

export class SelfSignedSource implements TlsSource {
  #opts: SelfSignedOptions;
  #store: CAStore;
  #log: Logger;
  #now: () => Date;
  #intervalMs: number;
  #debounceMs: number;
  #propagationMs: number;
  #leaf: Leaf | undefined;
  /** the CA as last read from the Secret */
  #authority: Authority | undefined;
  #bundle: BundleState = 'unknown';
  /** when this replica first saw each CA (by fingerprint) in every webhook's caBundle */
  #seenInBundle = new Map<string, number>();
  #listeners = new Set<(m: TlsMaterial) => void>();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopWatch: (() => void) | undefined;
  /** a watch event arrived while a pass was running: run another right after it */
  #changedDuringPass = false;
  #running: Promise<SelfSignedStatus> | undefined;
  #closed = false;
  #lastError = '';
  #lastWatchError = '';
  #repairs = new Counter({
    name: 'kube_latch_tls_ca_repairs_total',
    help: 'Self-signed mode: repairs of a caBundle that had lost the CA of the served certificate, or of a CA Secret that had lost its CA (helm upgrade --force, Argo CD Replace=true, a deleted or replaced object)',
    labelNames: ['object'] as const,
    registers: [],
  });
  #warnedNoConfig = false;
  #status: SelfSignedStatus | undefined;

  constructor(opts: SelfSignedOptions, store: CAStore) {
    this.#opts = opts;
    this.#store = store;
    this.#log = opts.log;
    this.#now = opts.now ?? (() => new Date());
    const shortest = Math.min(opts.caLifetimeSeconds, opts.certLifetimeSeconds) * 1000;
    this.#intervalMs = opts.intervalMs ?? clamp(shortest / 30, 1000, 10_000);
    this.#debounceMs = opts.debounceMs ?? 100;
    for (const object of ['ca-bundle', 'ca-secret'] as const) this.#repairs.inc({ object }, 0);
    this.#propagationMs = opts.propagationMs ?? clamp((opts.certLifetimeSeconds * 1000) / 20, 1000, 30_000);
  }

  current(): TlsMaterial {
    if (!this.#leaf) throw new TlsSourceError('self-signed: no serving certificate yet');
    return this.#leaf.material;
  }

  onChange(listener: (m: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The last pass's outcome. */
  status(): SelfSignedStatus | undefined {
    return this.#status;
  }

  /** Adds kube_latch_tls_ca_repairs_total to the webhook's registry. */
  registerMetrics(registry: Registry): void {
    registry.registerMetric(this.#repairs);
  }

  /** Runs passes from now on: on every watch event, and on the timer. */
  start(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    this.#stopWatch = this.#store.watch(
      () => this.#changed(),
      (what, err) => {
        const msg = `${what}: ${firstLine(err)}`;
        // The timer still runs passes; say so once per distinct problem.
        if (msg !== this.#lastWatchError) this.#log.warn({ err: msg, periodMs: this.#intervalMs }, 'self-signed: cannot watch; polling instead until the watch works');
        this.#lastWatchError = msg;
      },
    );
    this.#schedule(this.#nextDelayMs());
  }

  #changed(): void {
    if (this.#closed) return;
    if (this.#running) this.#changedDuringPass = true;
    else this.#schedule(this.#debounceMs);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#pass(), delayMs);
    this.#timer.unref();
  }

  #pass(): void {
    this.#timer = undefined;
    this.#changedDuringPass = false;
    void this.reconcile()
      .then((status) => {
        const problem = status.secretError ?? status.bundleError;
        if (problem !== undefined) throw new Error(status.secretError !== undefined ? problem : `caBundle of ${this.#opts.webhookConfig}: ${problem}`);
        this.#lastError = '';
      })
      .catch((err: unknown) => {
        const msg = firstLine(err);
        // The previous leaf keeps serving; say so once per distinct problem, not on every pass.
        if (msg !== this.#lastError) this.#log.error({ err: msg }, 'self-signed: reconcile failed; still serving the current certificate');
        this.#lastError = msg;
      })
      .finally(() => {
        if (!this.#closed) this.#schedule(this.#changedDuringPass ? this.#debounceMs : this.#nextDelayMs());
      });
  }

  /**
   * The reconcile period, shortened so that a pass runs right when the leaf falls due or a new CA has
   * been trusted for the propagation delay: a renewal never waits for the next regular tick.
   */
  #nextDelayMs(): number {
    const now = this.#now().getTime();
    let delay = this.#intervalMs;
    const leaf = this.#leaf;
    if (leaf) {
      const untilDue = renewAt(leaf).getTime() - now;
      if (untilDue > 0) delay = Math.min(delay, untilDue + 10);
      const ca = this.#authority?.caCert.fingerprint;
      const seen = ca !== undefined && ca !== leaf.issuer ? this.#seenInBundle.get(ca) : undefined;
      if (seen !== undefined && seen + this.#propagationMs - now > 0) delay = Math.min(delay, seen + this.#propagationMs - now + 10);
    }
    return delay;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatch?.();
    clearTimeout(this.#timer);
    this.#listeners.clear();
    await this.#running?.catch(() => undefined);
  }

  /** One pass: CA, caBundle, leaf. Passes never overlap. Rejects when the cluster cannot be read. */
  reconcile(): Promise<SelfSignedStatus> {
    if (this.#running) return this.#running;
    this.#running = this.#reconcileOnce().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #reconcileOnce(): Promise<SelfSignedStatus> {
    // A leaf that has fallen due is renewed from what this replica already knows, before any API round
    // trip (slow under load, or failing during an apiserver outage) can delay it.
    if (this.#authority && this.#leaf) this.#renewLeaf(this.#authority, this.#now());

    // A Secret that cannot be read or refilled does not stop caBundle from being kept (and repaired) with
    // the CA last read: the leaf in use keeps verifying meanwhile.
    let secretError: string | undefined;
    let authority: Authority;
    try {
      authority = await this.#ensureAuthority();
    } catch (err) {
      if (!this.#authority || !this.#leaf) throw err;
      secretError = err instanceof CASecretMissingError ? err.message : firstLine(err);
      authority = this.#authority;
    }
    this.#authority = authority;
    let bundleError: string | undefined;
    try {
      const bundle = await this.#ensureBundle(authority);
      this.#bundle = bundle ?? 'none';
    } catch (err) {
      bundleError = firstLine(err);
      this.#bundle = 'unknown';
    }
    const waiting = this.#renewLeaf(authority, this.#now());
    const served = this.#leaf!;
    this.#status = {
      caFingerprint: authority.caCert.fingerprint,
      trusted: authority.trusted.map((c) => c.fingerprint),
      bundle: Array.isArray(this.#bundle) ? this.#bundle.map((c) => c.fingerprint) : undefined,
      leafSerial: served.serial,
      leafIssuer: served.issuer,
      leafNotAfter: served.notAfter,
      waiting,
      ...(bundleError !== undefined ? { bundleError } : {}),
      ...(secretError !== undefined ? { secretError } : {}),
    };
    return this.#status;
  }

  /**
   * Issues a new leaf when one is needed and can be served safely. Returns true when one is needed but
   * waits for caBundle. In order of preference:
   * - from the current CA, once caBundle has trusted it for the propagation delay (or there is no
   *   configuration to keep, or nothing is served yet);
   * - when the leaf is due but the current CA is not trusted long enough yet: a bridge leaf from the CA
   *   that signed the old one, while that CA is still trusted and valid;
   * - when the leaf has expired and neither is possible: from the current CA, since a dead certificate
   *   cannot do better.
   */
  #renewLeaf(authority: Authority, now: Date): boolean {
    const leaf = this.#leaf;
    const reason = !leaf
      ? 'initial'
      : isExpired(leaf, now)
        ? 'expired'
        : leaf.issuer !== authority.caCert.fingerprint
          ? 'new CA'
          : isDue(leaf, now)
            ? 'due'
            : undefined;
    if (!reason) return false;
    const trustedLongEnough = (ca: BundleCert): boolean => {
      const seen = this.#seenInBundle.get(ca.fingerprint);
      return seen !== undefined && now.getTime() - seen >= this.#propagationMs && !isExpired(ca, now);
    };
    if (!leaf || this.#bundle === 'none' || trustedLongEnough(authority.caCert)) {
      this.#issueLeaf(authority, reason, now);
      return false;
    }
    const mustRenew = reason === 'expired' || isDue(leaf, now);
    if (mustRenew && leaf.issuer !== authority.caCert.fingerprint && trustedLongEnough(leaf.signer.caCert)) {
      this.#issueLeaf(leaf.signer, `${reason}; bridged on the previous CA until the new one is trusted`, now);
      return true;
    }
    if (reason === 'expired') {
      this.#issueLeaf(authority, reason, now);
      return false;
    }
    this.#log.debug({ reason }, 'self-signed: new serving certificate waits until caBundle trusts its CA');
    return true;
  }

  /** Reads the CA from the Secret, creating or renewing it as needed. Conflicts mean another replica wrote: re-read. */
  async #ensureAuthority(): Promise<Authority> {
    const { caLifetimeSeconds } = this.#opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.#now();
      const secret = await this.#store.readSecret();
      const parsed = secret ? readAuthority(secret.data, now) : undefined;
      if (parsed && !isDue(parsed.caCert, now)) return parsed;

      const ca = createCA({ commonName: `kube-latch-ca.${this.#opts.namespace}`, validitySeconds: caLifetimeSeconds, now });
      const caCert = describeCert(ca.cert);
      // The renewed CA goes first; the old ones stay trusted until they expire.
      const trusted = [caCert, ...(parsed?.trusted ?? []).filter((c) => c.fingerprint !== caCert.fingerprint && !isExpired(c, now))];
      const data = { [CA_CERT_KEY]: ca.cert, [CA_KEY_KEY]: ca.key, [TRUST_KEY]: formatBundle(trusted) };
      const won = secret ? await this.#store.replaceSecret(data, secret.resourceVersion) : await this.#createSecret(data);
      if (!won) continue;
      const why = !secret ? 'created' : !parsed ? 'filled the empty or unreadable Secret' : 'renewed at 2/3 of its life';
      const fields = { secret: this.#store.secretName, serial: ca.serial, notAfter: ca.notAfter.toISOString(), renewAt: renewAt(caCert).toISOString(), trusted: trusted.length };
      this.#log.info(fields, `self-signed: CA ${why}`);
      // This replica had read a CA that is still valid, and now the Secret had none: someone emptied,
      // replaced or recreated it. The served leaf's CA stays in caBundle (desiredBundle), so nothing fails.
      const lost = this.#authority && !parsed && !isExpired(this.#authority.caCert, now);
      if (lost) {
        this.#repairs.inc({ object: 'ca-secret' });
        this.#log.warn(
          { ...fields, previous: this.#authority!.caCert.subject, previousNotAfter: this.#authority!.caCert.notAfter.toISOString() },
          'self-signed: the CA Secret had lost its CA (helm upgrade --force, Argo CD Replace=true, or recreated); refilled with a new CA, and caBundle keeps trusting the previous one',
        );
      }
      return { ca, caCert, trusted };
    }
    throw new Error(`the CA Secret ${this.#store.secretName} kept changing under us (5 conflicts in a row)`);
  }

  /** Creates the Secret; a refusal (the chart grants no `create`) becomes a message that says what to do. */
  async #createSecret(data: Record<string, string>): Promise<boolean> {
    try {
      return await this.#store.createSecret(data);
    } catch (err) {
      if (statusOf(err) === 403) throw new CASecretMissingError(this.#store.secretName);
      throw err;
    }
  }

  /**
   * Makes every webhook's caBundle trust the Secret's CAs and the CA of the leaf being served. Returns the bundle as it now stands, or
   * undefined when there is no webhook configuration to keep (then nobody calls us through it).
   */
  async #ensureBundle(authority: Authority): Promise<BundleCert[] | undefined> {
    if (!this.#opts.webhookConfig) return undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const now = this.#now();
      const config = await this.#store.readBundles();
      if (!config) {
        if (!this.#warnedNoConfig) {
          this.#log.warn({ webhookConfig: this.#opts.webhookConfig }, 'self-signed: the MutatingWebhookConfiguration does not exist (yet); caBundle is patched once it does');
          this.#warnedNoConfig = true;
        }
        return undefined;
      }
      this.#warnedNoConfig = false;
      const perWebhook = config.webhooks.map((w) => parseBundle(w.bundle));
      const signer = this.#leaf?.signer.caCert;
      const desired = desiredBundle(authority.trusted, signer ? [signer] : [], perWebhook.flat(), now);
      if (perWebhook.every((b) => sameCerts(b, desired))) {
        this.#markSeen(desired, now);
        return desired;
      }
      const names = config.webhooks.map((w) => w.name);
      // A repair: caBundle had trusted the served leaf's CA (this replica saw it there), and some webhook
      // has lost it since. Until this write, the apiserver cannot verify the leaf being served.
      const lost = signer !== undefined && this.#seenInBundle.has(signer.fingerprint) && !isExpired(signer, now) && perWebhook.some((b) => !contains(b, signer));
      if (!(await this.#store.writeBundles(formatBundle(desired), names, config.resourceVersion))) continue;
      const fields = { webhookConfig: this.#opts.webhookConfig, webhooks: names.length, cas: desired.map((c) => ({ subject: c.subject, notAfter: c.notAfter.toISOString() })) };
      if (lost) {
        this.#repairs.inc({ object: 'ca-bundle' });
        this.#log.warn(
          { ...fields, servedCA: signer.subject, webhooksMissingIt: config.webhooks.filter((_, i) => !contains(perWebhook[i]!, signer)).map((w) => w.name) },
          'self-signed: caBundle had lost the CA of the served certificate (helm upgrade --force, Argo CD Replace=true, or a replaced webhook configuration); repaired',
        );
      }
      this.#log.info(fields, 'self-signed: caBundle updated');
      this.#markSeen(desired, now);
      return desired;
    }
    throw new Error(`the MutatingWebhookConfiguration ${this.#opts.webhookConfig} kept changing under us (5 conflicts in a row)`);
  }

  #markSeen(bundle: readonly BundleCert[], now: Date): void {
    for (const c of bundle) if (!this.#seenInBundle.has(c.fingerprint)) this.#seenInBundle.set(c.fingerprint, now.getTime());
    for (const fp of [...this.#seenInBundle.keys()]) if (!contains(bundle, { fingerprint: fp })) this.#seenInBundle.delete(fp);
  }

  #issueLeaf(authority: Pick<Authority, 'ca' | 'caCert'>, reason: string, now: Date): void {
    const { serviceName, namespace, extraSans, certLifetimeSeconds } = this.#opts;
    const leaf = createLeaf(authority.ca, {
      commonName: `${serviceName}.${namespace}.svc`,
      dnsNames: [...serviceDnsNames(serviceName, namespace), ...extraSans.filter((s) => isIP(s) === 0)],
      ipAddresses: extraSans.filter((s) => isIP(s) !== 0),
      validitySeconds: certLifetimeSeconds,
      now,
    });
    const material = { cert: leaf.cert, key: leaf.key };
    this.#leaf = {
      material,
      serial: leaf.serial,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      issuer: authority.caCert.fingerprint,
      signer: { ca: authority.ca, caCert: authority.caCert },
    };
    this.#log.info(
      { serial: leaf.serial, notAfter: leaf.notAfter.toISOString(), renewAt: renewAt(leaf).toISOString(), reason },
      'self-signed: serving certificate issued',
    );
    for (const l of this.#listeners) {
      try {
        l(material);
      } catch (err) {
        this.#log.error({ err: firstLine(err) }, 'self-signed: applying the new certificate failed');
      }
    }
  }
}

/** The CA in a Secret's data, or undefined when it is missing, unreadable, expired or not the key's. */
function readAuthority(data: Record<string, string>, now: Date): Authority | undefined {
  const cert = data[CA_CERT_KEY];
  const key = data[CA_KEY_KEY];
  if (!cert || !key) return undefined;
  let caCert: BundleCert;
  try {
    caCert = describeCert(cert);
    const x = new X509Certificate(cert);
    if (!x.ca) return undefined;
    if (!x.checkPrivateKey(createPrivateKey(key))) return undefined;
  } catch {
    return undefined;
  }
  if (isExpired(caCert, now)) return undefined;
  const trusted = [caCert];
  for (const c of parseBundle(data[TRUST_KEY] ?? '')) {
    if (c.fingerprint !== caCert.fingerprint && !isExpired(c, now)) trusted.push(c);
  }
  return {
    ca: { cert, key, serial: new X509Certificate(cert).serialNumber.toLowerCase(), notBefore: caCert.notBefore, notAfter: caCert.notAfter },
    caCert,
    trusted,
  };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(x)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
