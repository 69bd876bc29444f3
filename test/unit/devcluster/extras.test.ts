// `dev-cluster up --with LIST`: the names an operator may give, and the one-line error for the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../../src/cli/dev-cluster.ts';
import { UsageError } from '../../../src/cli/flags.ts';
import { EXTRA_NAMES, parseExtras } from '../../../src/devcluster/tools/extras.ts';

const cases: Array<[string, string[] | RegExp]> = [
  ['', []],
  ['metrics', ['metrics']],
  ['flux,metrics', ['flux', 'metrics']],
  [' metrics , flux ,', ['metrics', 'flux']],
  ['flux,flux', ['flux']],
  ['argocd,flux', ['argocd', 'flux']],
  ['helm-controller', ['helm-controller']],
  ['helm', /^unknown extra "helm" \(known: metrics, flux, helm-controller, argocd\)$/],
  ['metrics,Flux', /^unknown extra "Flux"/],
];

for (const [text, want] of cases) {
  test(`parseExtras(${JSON.stringify(text)})`, () => {
    if (want instanceof RegExp) assert.throws(() => parseExtras(text), { message: want });
    else assert.deepEqual(parseExtras(text), want);
  });
}

test('every known extra parses as itself', () => {
  for (const n of EXTRA_NAMES) assert.deepEqual(parseExtras(n), [n]);
});

test('an unknown extra is a usage error (exit 2) before anything starts', async () => {
  await assert.rejects(run(['up', '--dir', '/nonexistent/kube-latch-never-created', '--with', 'bogus']), (e: unknown) => e instanceof UsageError && /unknown extra "bogus"/.test(e.message));
});
