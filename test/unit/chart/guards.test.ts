// Chart values that pass for valid but would break the release (issue 13 §6), and the NetworkPolicy's
// default and opened cases (issue 13 §1, docs/security.md). Rendered with the pinned helm.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { UsageError } from '../../../src/cli/flags.ts';
import { selfSignedConfigFromFlags } from '../../../src/certs/self-signed-flags.ts';
import { CHART_DIR, find, helm, render } from './helm.ts';

const NS = 'kube-latch-system';
const schema = JSON.parse(readFileSync(new URL('values.schema.json', `file://${CHART_DIR}`), 'utf8'));

const template = (values: Record<string, unknown>) => helm(['template', 'kl', CHART_DIR, '--namespace', NS], values);

describe('self-signed lifetimes: the schema refuses what the binary refuses (at least 3 s)', () => {
  const cases: Array<[unknown, boolean]> = [
    [1, false],
    [2, false],
    [3, true],
    ['1', false],
    ['2.9s', false],
    ['3', true],
    ['3s', true],
    ['2999ms', false],
    ['3000ms', true],
    ['0.04m', false],
    ['0.05m', true],
    ['0.0008h', false],
    ['0.00084h', true],
    ['720h', true],
    ['.5h', false],
    ['0s', false],
  ];
  for (const [value, ok] of cases) {
    test(`certLifetime ${JSON.stringify(value)}: ${ok ? 'renders' : 'refused by the schema'}`, async () => {
      const r = await template({ selfSigned: { certLifetime: value, caLifetime: value } });
      if (ok) {
        assert.equal(r.code, 0, r.stderr);
        return;
      }
      assert.notEqual(r.code, 0, `rendered certLifetime ${JSON.stringify(value)}`);
      assert.match(r.stderr, /schema/);
      assert.match(r.stderr, /certLifetime/);
      assert.match(r.stderr, /caLifetime/);
    });
  }

  test('property: for any decimal with any unit, the schema pattern and the binary agree', () => {
    const pattern = new RegExp(schema.properties.selfSigned.properties.certLifetime.oneOf[1].pattern);
    const binary = (s: string) => {
      try {
        selfSignedConfigFromFlags({ namespace: 'ns', 'cert-lifetime': s });
        return true;
      } catch (e) {
        if (e instanceof UsageError) return false;
        throw e;
      }
    };
    // up to 99999 of any unit: below the binary's 100-year ceiling, which the integer form's maximum carries
    const digits = fc.stringMatching(/^[0-9]{1,5}$/);
    const value = fc
      .tuple(digits, fc.option(fc.stringMatching(/^[0-9]{1,7}$/), { nil: undefined }), fc.constantFrom('', 's', 'ms', 'm', 'h'))
      .map(([i, f, unit]) => `${i}${f === undefined ? '' : '.' + f}${unit}`);
    // values close to the 3 s boundary in every unit, where a wrong pattern would show
    const near = fc.constantFrom('2', '3', '2.999', '3.0', '02', '003', '2999ms', '3000ms', '2999.9ms', '0.049m', '0.05m', '0.050m', '0.0500001m', '0.000833h', '0.0008333h', '0.00083334h', '0.0009h', '0.001h');
    fc.assert(
      fc.property(fc.oneof(value, near), (s) => {
        assert.equal(pattern.test(s), binary(s), `"${s}": schema ${pattern.test(s)}, binary ${binary(s)}`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('podDisruptionBudget.minAvailable must leave a pod evictable', () => {
  const refused: Array<[number, number | string, RegExp]> = [
    [2, 2, /podDisruptionBudget\.minAvailable \(2\) must stay below replicaCount \(2\).*every node drain blocks/],
    [3, 5, /podDisruptionBudget\.minAvailable \(5\) must stay below replicaCount \(3\)/],
    [2, '60%', /podDisruptionBudget\.minAvailable \(60% = 2 pods\) must stay below replicaCount \(2\)/],
    [4, '100%', /\(100% = 4 pods\) must stay below replicaCount \(4\)/],
  ];
  for (const [replicaCount, minAvailable, message] of refused) {
    test(`replicaCount ${replicaCount}, minAvailable ${minAvailable}: refused with a message that says why`, async () => {
      const r = await template({ replicaCount, podDisruptionBudget: { minAvailable } });
      assert.notEqual(r.code, 0, 'rendered a PDB that blocks every drain');
      // helm's first line is the error (then it suggests --debug)
      assert.match(r.stderr.split('\n')[0]!, message);
    });
  }

  const rendered: Array<[number, number | string]> = [
    [2, 1],
    [3, 2],
    [3, '50%'],
    [2, 0],
  ];
  for (const [replicaCount, minAvailable] of rendered) {
    test(`replicaCount ${replicaCount}, minAvailable ${minAvailable}: rendered as given`, async () => {
      assert.equal(find(await render({ replicaCount, podDisruptionBudget: { minAvailable } }), 'PodDisruptionBudget').spec.minAvailable, minAvailable);
    });
  }

  test('one replica renders no PDB, so a minAvailable it could never meet is not an error', async () => {
    const objs = await render({ replicaCount: 1, podDisruptionBudget: { minAvailable: 3 } });
    assert.equal(objs.filter((o) => o.kind === 'PodDisruptionBudget').length, 0);
  });
});

describe('NetworkPolicy: off by default, webhookFrom narrows the webhook port to the apiserver', () => {
  test('default values render no NetworkPolicy (no peer list is right for every distribution)', async () => {
    assert.equal((await render()).filter((o) => o.kind === 'NetworkPolicy').length, 0);
  });

  test('enabled without webhookFrom: the webhook port is open to any source, the other ports to no one', async () => {
    const np = find(await render({ networkPolicy: { enabled: true } }), 'NetworkPolicy');
    assert.deepEqual(np.spec.ingress, [{ ports: [{ port: 'https', protocol: 'TCP' }] }]);
  });

  const peers: Array<[string, unknown[]]> = [
    ['kubeadm (apiserver on the host network)', [{ ipBlock: { cidr: '10.0.0.0/24' } }]],
    ['GKE or AKS (konnectivity agents)', [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'konnectivity-agent' } } }]],
    ['EKS (control-plane ENIs in the VPC)', [{ ipBlock: { cidr: '192.168.0.0/16' } }]],
  ];
  for (const [what, from] of peers) {
    test(`webhookFrom for ${what}: only those peers reach the webhook port`, async () => {
      const objs = await render({ networkPolicy: { enabled: true, webhookFrom: from } });
      const np = find(objs, 'NetworkPolicy');
      assert.deepEqual(np.spec.ingress[0], { ports: [{ port: 'https', protocol: 'TCP' }], from });
      assert.deepEqual(np.spec.podSelector.matchLabels, find(objs, 'Deployment').spec.selector.matchLabels);
      const https = (find(objs, 'Deployment').spec.template.spec.containers as any[]).find((c) => c.name === 'webhook').ports.find((p: any) => p.name === 'https');
      assert.ok(https, 'the policy names a port the webhook container declares');
    });
  }

  test('webhookFrom that is not a list of peers is refused by the schema', async () => {
    const r = await template({ networkPolicy: { enabled: true, webhookFrom: '10.0.0.0/8' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /webhookFrom/);
  });
});
