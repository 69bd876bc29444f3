// The chart configures both containers only through KUBE_LATCH_* variables, and parseFlags ignores a
// variable that names no flag: so every variable the chart sets must be a real flag of the subcommand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SELF_SIGNED_FLAGS } from '../../../src/certs/self-signed-flags.ts';
import { envName } from '../../../src/cli/flags.ts';
import { watcherFlags } from '../../../src/cli/watcher.ts';
import { webhookFlags } from '../../../src/cli/webhook.ts';
import { find, render, type K8sObject } from './helm.ts';

const containers = (objs: K8sObject[]) => find(objs, 'Deployment').spec.template.spec.containers as any[];

test('every KUBE_LATCH_* variable is a flag of the subcommand its container runs', async () => {
  const objs = await render({
    git: { url: 'https://git.example.test/o/r.git', tokenSecret: 't', provider: 'gitlab', apiUrl: 'https://git.example.test/api/v4', path: ['a'], signing: { secret: 's' } },
  });
  const certManager = await render({ certManager: { enabled: true } });
  const known = {
    webhook: new Set([...webhookFlags, ...SELF_SIGNED_FLAGS].map((f) => envName(f.name))),
    watcher: new Set(watcherFlags.map((f) => envName(f.name))),
  };
  for (const c of [...containers(objs), ...containers(certManager)]) {
    const flags = known[c.name as 'webhook' | 'watcher'];
    for (const e of c.env as any[]) {
      if (e.name === 'HOME' || e.name === 'POD_NAME') continue; // read by the watcher for its Lease identity, and by git/ssh
      assert.ok(flags.has(e.name), `${c.name}: ${e.name} is not a flag of kube-latch ${c.name}`);
    }
  }
});
