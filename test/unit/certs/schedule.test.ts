// The caBundle rule (schedule.ts desiredBundle): which CAs the webhook configuration must trust, given the
// CAs the Secret names, the CA of the leaf being served, and what the bundle already holds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createCA } from '../../../src/certs/authority.ts';
import { desiredBundle, describeCert, type BundleCert } from '../../../src/certs/schedule.ts';

const NOW = new Date('2031-05-06T07:08:09Z');
const HOUR = 3600;
const ca = (name: string, hoursAgo = 0, lifeHours = 100): BundleCert =>
  describeCert(createCA({ commonName: name, validitySeconds: lifeHours * HOUR, now: new Date(NOW.getTime() - hoursAgo * HOUR * 1000) }).cert);

// current: the CA the Secret holds now; previous: the one before it (a renewal, or the one `helm upgrade
// --force` threw away); other: a CA another replica added; expired: a CA past its notAfter.
const current = ca('current');
const previous = ca('previous', 50);
const other = ca('other');
const expired = ca('expired', 20, 10);
const names = new Map([current, previous, other, expired].map((c) => [c.fingerprint, c.subject.replace('CN=', '')]));
const named = (b: readonly BundleCert[]) => b.map((c) => names.get(c.fingerprint));

describe('desiredBundle: the CAs caBundle must trust', () => {
  // [case, Secret trusts, served leaf's signer, bundle now, desired]
  const table: Array<[string, BundleCert[], BundleCert | undefined, BundleCert[], string[]]> = [
    ['steady state', [current], current, [current], ['current']],
    ['first start: nothing served yet, empty bundle', [current], undefined, [], ['current']],
    ['CA renewed: the Secret names both, the old leaf still served', [current, previous], previous, [previous], ['current', 'previous']],
    ['helm upgrade --force: Secret refilled with a new CA, bundle emptied, old leaf still served', [current], previous, [], ['current', 'previous']],
    ['only the Secret emptied and refilled: the bundle still holds the old CA', [current], previous, [previous], ['current', 'previous']],
    ['only the webhook configuration replaced: bundle emptied', [current], current, [], ['current']],
    ['leaf already on the new CA: the previous CA stays until it expires', [current], current, [previous], ['current', 'previous']],
    ['another replica trusts a further CA: kept', [current], current, [current, other], ['current', 'other']],
    ['the served leaf\'s signer has expired: it verifies nothing', [current], expired, [], ['current']],
    ['an expired previous CA leaves the Secret\'s list and the bundle', [current, expired], current, [current, expired], ['current']],
    ['duplicates across the three sources collapse, current first', [current, previous], previous, [previous, current, previous], ['current', 'previous']],
  ];
  for (const [what, trusted, signer, bundle, want] of table) {
    test(what, () => {
      assert.deepEqual(named(desiredBundle(trusted, signer ? [signer] : [], bundle, NOW)), want);
    });
  }

  test('property: the result holds every unexpired CA of the three sources, each once, and nothing else', () => {
    const pool = [current, previous, other, expired];
    const subset = fc.subarray(pool);
    fc.assert(
      fc.property(subset, subset, subset, (trusted, served, bundle) => {
        const out = desiredBundle(trusted, served, bundle, NOW);
        const fps = out.map((c) => c.fingerprint);
        assert.equal(new Set(fps).size, fps.length, 'no duplicates');
        const want = new Set([...trusted, ...served, ...bundle].filter((c) => c !== expired).map((c) => c.fingerprint));
        assert.deepEqual(new Set(fps), want);
        // The served signers, when still valid, are always there: the leaf in use keeps verifying.
        for (const s of served) if (s !== expired) assert.ok(fps.includes(s.fingerprint));
      }),
    );
  });
});
